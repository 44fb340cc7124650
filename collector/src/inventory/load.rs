//! Reading the inventory: the main file and its `include:`s, each parsed strictly, then
//! validated together ([`super::validate`]), resolved ([`super::resolve`]) and checked for
//! secrets two roles share ([`super::secrets`]).

use super::database::Location as DbLocation;
use super::files::{load_all, GlobalIndex};
use super::model::Inventory;
use super::resolve::{resolve, resolve_agents};
use super::validate::{validate_file, validate_notify};
use driftvakt_common::config::{ConfigErrors, Validator};
use std::path::Path;

impl Inventory {
    /// Loads `path` and its includes and validates them; reports every problem found. No two
    /// roles may share a secret (the same value, file or variable: agents' tokens, the operator
    /// token, the acknowledgement links' key, the channels' secrets, the SMTP and database
    /// passwords); secrets that do not resolve are left to [`Inventory::preflight`].
    pub fn load(path: &Path) -> Result<Inventory, ConfigErrors> {
        let files = load_all(path)?;
        let mut errors = Vec::new();
        let index = GlobalIndex::build(&files);
        for f in &files {
            let mut v = Validator::new(&f.path, &f.source);
            validate_file(&mut v, f, &index, &files);
            if let Err(e) = v.finish() {
                errors.extend(e.0);
            }
        }
        let agents = resolve_agents(&files, &index, &mut errors);
        validate_notify(&files[0], &index, &mut errors);
        if let Some(t) = &files[0].file.topology {
            let mut v = Validator::new(&files[0].path, &files[0].source);
            t.validate(&mut v, &index.devices);
            if let Err(e) = v.finish() {
                errors.extend(e.0);
            }
        }
        if !errors.is_empty() {
            errors.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
            return Err(ConfigErrors(errors));
        }
        let main_source = files[0].source.clone();
        let mut inv = resolve(path, files, agents);
        let shared = inv.shared_secrets(&main_source);
        if !shared.is_empty() {
            return Err(ConfigErrors(shared));
        }
        inv.set_database(inv.settings.database.clone());
        Ok(inv)
    }

    /// Sets the database (`collector.database` or `--database`); a PostgreSQL one reads its
    /// password from `collector.database_password_file` (relative to the inventory's folder)
    /// when that is set.
    pub fn set_database(&mut self, location: DbLocation) {
        let base = self.path.parent().unwrap_or(Path::new("."));
        let file = self.settings.database_password_file.as_ref();
        self.settings.database = location.with_password_file(file.map(|f| base.join(f)));
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{messages, Folder, BASIC};

    #[test]
    fn includes_are_merged_relative_to_the_including_file() {
        let f = Folder::new();
        std::fs::create_dir(f.path().join("more")).unwrap();
        f.write(
            "more/tranemo.yaml",
            "sites:\n  - { id: s3, municipality: Tranemo }\ndevices:\n  - { id: sw3, class: switch, site: s3, address: 10.3.0.1, parent: sw, checks: [icmp] }\n",
        );
        let inv = f
            .load(&format!("include: [more/tranemo.yaml]\n{BASIC}"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(inv.site("s3").unwrap().municipality, "Tranemo");
        assert_eq!(inv.device("sw3").unwrap().parent.as_deref(), Some("sw"));
        // `a2` takes Tranemo's devices, in the included file too.
        assert!(inv.agent("a2").unwrap().devices.contains("sw3"));
    }

    #[test]
    fn a_missing_include_and_main_only_sections_elsewhere_are_errors() {
        let f = Folder::new();
        f.write(
            "part.yaml",
            "collector: { target: 0.99 }\nnotify: { hold_down: 5m }\n",
        );
        let err = f
            .load(&format!("include: [part.yaml, nowhere.yaml]\n{BASIC}"))
            .unwrap_err();
        let text = messages(&err);
        assert!(text.contains("included file") && text.contains("nowhere.yaml does not exist"));
        assert!(
            text.contains("`collector:` belongs in the main file only"),
            "{text}"
        );
        assert!(
            text.contains("`notify:` belongs in the main file only"),
            "{text}"
        );
    }

    #[test]
    fn a_postgres_database_reads_its_password_file_from_the_inventorys_folder() {
        let f = Folder::new();
        let inv = f
            .load(&format!(
                "collector:\n  database: postgres://dv@127.0.0.1/drift\n  database_password_file: pg.pass\n{BASIC}"
            ))
            .unwrap_or_else(|e| panic!("{e}"));
        let super::DbLocation::Postgres(pg) = &inv.settings.database else {
            panic!("not postgres: {}", inv.settings.database)
        };
        assert_eq!(
            pg.password_file.as_deref(),
            Some(&*f.path().join("pg.pass"))
        );
    }
}
