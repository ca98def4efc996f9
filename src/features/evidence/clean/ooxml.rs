//! OOXML (Word, Excel, PowerPoint): recognising the package, and the document property parts
//! (docProps/core.xml, app.xml, custom.xml) with the empty parts that replace them.

const EMPTY_CORE_PROPERTIES: &[u8] = br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" xmlns:dcmitype="http://purl.org/dc/dcmitype/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/>"#;
const EMPTY_APP_PROPERTIES: &[u8] = br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties"/>"#;
const EMPTY_CUSTOM_PROPERTIES: &[u8] = br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/custom-properties" xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes"/>"#;

/// OPC part names are case-insensitive, and some writers store them with a leading slash.
fn is_part(name: &str, part: &str) -> bool {
    name.strip_prefix('/').unwrap_or(name).eq_ignore_ascii_case(part)
}

/// Whether the archive's entries make it an OOXML package: it has a content-types part.
pub(super) fn is_ooxml(names: &[String]) -> bool {
    names.iter().any(|name| is_part(name, "[Content_Types].xml"))
}

/// Whether entry `name` is one of the property parts, which are replaced by empty ones.
pub(super) fn is_property_part(name: &str) -> bool {
    ["docProps/core.xml", "docProps/app.xml", "docProps/custom.xml"]
        .iter()
        .any(|part| is_part(name, part))
}

/// The empty part that replaces property part `name`.
pub(super) fn empty_properties(name: &str) -> Vec<u8> {
    if is_part(name, "docProps/core.xml") {
        EMPTY_CORE_PROPERTIES.to_vec()
    } else if is_part(name, "docProps/app.xml") {
        EMPTY_APP_PROPERTIES.to_vec()
    } else {
        EMPTY_CUSTOM_PROPERTIES.to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::check_package;
    use super::super::Removed;
    use super::*;

    #[test]
    fn docx_fixture_loses_its_document_properties() {
        check_package(
            "memo-author.docx",
            &[
                ("docProps/core.xml", EMPTY_CORE_PROPERTIES),
                ("docProps/app.xml", EMPTY_APP_PROPERTIES),
            ],
            // The thumbnail python-docx put in carries EXIF of its own.
            &[Removed::CameraData, Removed::DocumentProperties],
        );
    }

    #[test]
    fn xlsx_fixture_loses_its_document_properties() {
        check_package(
            "budget-author.xlsx",
            &[
                ("docProps/core.xml", EMPTY_CORE_PROPERTIES),
                ("docProps/app.xml", EMPTY_APP_PROPERTIES),
            ],
            &[Removed::DocumentProperties],
        );
    }
}
