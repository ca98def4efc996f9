//! PostgreSQL: the organisations of an installation share its tables, each row marked with
//! its organisation and held to it by forced row-level security. An export is the
//! organisation's rows, table by table, read through its own store (which sees no other
//! organisation's) in one snapshot; an import writes them through the new organisation's
//! store in one transaction, parents before children.

use std::path::Path;

use super::files::{write_private, Places};
use super::sealed::{fields, parse_fields, ExportKey, ExportReader, ExportWriter, Kind, OpenError};
use super::{check_placed, write_head, Contents, Counts};
use crate::settings::Settings;
use crate::storage::{RowBatch, Store};

/// A batch of rows as one record: its table, its columns and the rows (JSON).
fn encode(batch: &RowBatch) -> Vec<u8> {
    fields(&[
        ("table", &batch.table),
        ("columns", &batch.columns.join(",")),
        ("rows", &batch.json),
    ])
}

fn decode(bytes: &[u8]) -> Result<RowBatch, OpenError> {
    let mut table = None;
    let mut columns = None;
    let mut json = None;
    for (name, value) in parse_fields(bytes)? {
        match name.as_str() {
            "table" => table = Some(value),
            "columns" => columns = Some(value.split(',').map(str::to_string).collect()),
            "rows" => json = Some(value),
            _ => {}
        }
    }
    match (table, columns, json) {
        (Some(table), Some(columns), Some(json)) => Ok(RowBatch { table, columns, json }),
        _ => Err(OpenError::Malformed("a batch of rows lacks its table, columns or rows")),
    }
}

/// The organisation `org_store` serves, every row of it, sealed into `out` after the
/// records every export starts with.
pub(super) async fn export(org_store: &Store, contents: &Contents, key: &ExportKey, out: &Path) -> anyhow::Result<()> {
    let (tables, unknown) = org_store.organisation_tables().await?;
    if !unknown.is_empty() {
        anyhow::bail!(
            "this version of Meldpunt does not know how to export the table(s) {} (added by a later \
             migration?): use the version the database was migrated with",
            unknown.join(", ")
        );
    }
    let file = std::fs::OpenOptions::new().write(true).open(out)?;
    let mut w = ExportWriter::new(std::io::BufWriter::with_capacity(1 << 20, file), key)?;
    write_head(&mut w, contents)?;
    // Batches of a few MiB, each sealed and written as it comes: a large organisation is
    // never in memory at once.
    org_store
        .export_rows(&tables, &mut |batch| Ok(w.record(Kind::Rows, &encode(&batch))?))
        .await?;
    let file = w.finish()?.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    Ok(())
}

/// The rows from the export at `from` written through the store of the new organisation
/// `id` (one transaction), its pin beside the pepper, and the whole checked as the service
/// will open it. What it holds.
pub(super) async fn place(
    own: &Settings,
    id: i64,
    places: &Places,
    from: &Path,
    key: &ExportKey,
    contents: &Contents,
) -> anyhow::Result<Counts> {
    let shown = from.display().to_string();
    let mut reader =
        ExportReader::open(std::fs::File::open(from)?, key).map_err(|e| anyhow::anyhow!("{shown}: {e}"))?;
    // Read once more, each chunk checked again: a file changed since the first reading is
    // refused in the middle, and the transaction takes every row back.
    let mut next = || -> anyhow::Result<Option<RowBatch>> {
        loop {
            let (kind, len) = reader.next_record()?;
            match kind {
                Kind::Rows => return Ok(Some(decode(&reader.small(len)?)?)),
                Kind::End => {
                    reader.finish()?;
                    return Ok(None);
                }
                // The records read before the rows (the first reading kept them).
                _ => reader.copy_to(len, &mut std::io::sink())?,
            }
        }
    };
    let org_store = Store::connect_organisation(&own.database.url, 2, id).await?;
    let placed = async {
        org_store
            .import_rows(&mut next)
            .await
            .map_err(|e| anyhow::anyhow!("{shown}: {e:#}"))?;
        if let Some(pin) = &contents.pin {
            write_private(&places.pin, pin)?;
        }
        check_placed(&org_store, own, &contents.secret).await
    }
    .await;
    org_store.close().await;
    placed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_survives_its_record() {
        let batch = RowBatch {
            table: "reports".into(),
            columns: vec!["id".into(), "status".into()],
            json: r#"[{"id":"a","status":"nieuw"}]"#.into(),
        };
        let back = decode(&encode(&batch)).unwrap();
        assert_eq!(
            (back.table, back.columns, back.json),
            (batch.table, batch.columns, batch.json)
        );
    }

    /// Every table the PostgreSQL migrations make is in the export's ordered list, left out
    /// on purpose, or the installation's own: a new table without a place here fails.
    #[test]
    fn every_table_has_its_place_in_an_export() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres");
        let mut missing = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            for line in text.lines() {
                let Some(rest) = line.trim().strip_prefix("CREATE TABLE ") else {
                    continue;
                };
                let name = rest
                    .trim_start_matches("IF NOT EXISTS ")
                    .split([' ', '('])
                    .next()
                    .unwrap()
                    .to_string();
                let placed = Store::ORGANISATION_TABLES.contains(&name.as_str())
                    || Store::NOT_CARRIED.contains(&name.as_str())
                    || Store::REGISTRY_TABLES.contains(&name.as_str());
                if !placed {
                    missing.push(name);
                }
            }
        }
        assert!(missing.is_empty(), "tables with no place in an export: {missing:?}");
    }
}
