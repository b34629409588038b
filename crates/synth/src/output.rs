//! Writing a region to a directory (Bundles or NDJSON, plus the ground truth) and
//! the registrations CSV of the master patient index.

use crate::bundle::{transaction_bundle, BundleMode};
use crate::person::Registration;
use crate::region::Region;
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Output layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `reference.json` and one transaction Bundle per resident under `residents/`.
    Bundles,
    /// One NDJSON file per resource type.
    Ndjson,
}

/// Counts of what was written.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Residents.
    pub residents: u64,
    /// Registrations (Patient resources).
    pub registrations: u64,
    /// All resources, reference data included.
    pub resources: u64,
    /// Bytes written.
    pub bytes: u64,
}

/// Writes the whole region to `dir`, with `ground-truth.csv` and `registrations.csv`.
/// `progress` is called after each resident with the count so far.
pub fn write_dir(
    region: &Region,
    dir: &Path,
    format: Format,
    mut progress: impl FnMut(&Summary),
) -> io::Result<Summary> {
    fs::create_dir_all(dir)?;
    let mut summary = Summary::default();
    let mut truth = BufWriter::new(File::create(dir.join("ground-truth.csv"))?);
    truth.write_all(b"institution,patient_id,person_id\n")?;
    let mut regs = RegistrationsCsv::create(&dir.join("registrations.csv"))?;
    let reference = region.reference_resources();
    summary.resources += reference.len() as u64;
    let mut ndjson: BTreeMap<String, BufWriter<File>> = BTreeMap::new();
    match format {
        Format::Bundles => {
            let bytes = serde_json::to_vec(&transaction_bundle(&reference, BundleMode::Put))?;
            summary.bytes += bytes.len() as u64;
            fs::write(dir.join("reference.json"), bytes)?;
        }
        Format::Ndjson => {
            for r in &reference {
                summary.bytes += write_line(&mut ndjson, dir, r)?;
            }
        }
    }
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut last_sub: Option<PathBuf> = None;
    for resident in region.residents() {
        summary.residents += 1;
        summary.registrations += resident.registrations.len() as u64;
        summary.resources += resident.resources.len() as u64;
        for reg in &resident.registrations {
            writeln!(
                truth,
                "{},{},{}",
                reg.institution_id, reg.patient_id, resident.person.person_id
            )?;
            regs.write(reg, resident.person.male)?;
        }
        match format {
            Format::Bundles => {
                let n = resident.person.index + 1;
                let sub = dir.join("residents").join(format!("{:04}", n / 1000));
                if last_sub.as_ref() != Some(&sub) {
                    fs::create_dir_all(&sub)?;
                    last_sub = Some(sub.clone());
                }
                buf.clear();
                serde_json::to_writer(
                    &mut buf,
                    &transaction_bundle(&resident.resources, BundleMode::Put),
                )?;
                summary.bytes += buf.len() as u64;
                fs::write(sub.join(format!("{n:07}.json")), &buf)?;
            }
            Format::Ndjson => {
                for r in &resident.resources {
                    summary.bytes += write_line(&mut ndjson, dir, r)?;
                }
            }
        }
        progress(&summary);
    }
    for (_, mut w) in ndjson {
        w.flush()?;
    }
    truth.flush()?;
    regs.finish()?;
    Ok(summary)
}

fn write_line(
    files: &mut BTreeMap<String, BufWriter<File>>,
    dir: &Path,
    r: &serde_json::Value,
) -> io::Result<u64> {
    let rt = r
        .get("resourceType")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("Unknown");
    if !files.contains_key(rt) {
        let f = File::create(dir.join(format!("{rt}.ndjson")))?;
        files.insert(rt.to_owned(), BufWriter::with_capacity(256 * 1024, f));
    }
    let w = files
        .get_mut(rt)
        .ok_or_else(|| io::Error::other("ndjson writer vanished"))?;
    let bytes = serde_json::to_vec(r)?;
    w.write_all(&bytes)?;
    w.write_all(b"\n")?;
    Ok(bytes.len() as u64 + 1)
}

/// A writer of the registrations CSV (`record_id,name,sex,dob,id_number,phone,address`,
/// the master patient index's Chinese layout).
pub struct RegistrationsCsv {
    w: BufWriter<File>,
    path: PathBuf,
}

impl RegistrationsCsv {
    /// Creates the file and writes the header.
    pub fn create(path: &Path) -> io::Result<RegistrationsCsv> {
        let mut w = BufWriter::new(File::create(path)?);
        w.write_all(b"record_id,name,sex,dob,id_number,phone,address\n")?;
        Ok(RegistrationsCsv {
            w,
            path: path.to_owned(),
        })
    }

    /// Writes one registration.
    pub fn write(&mut self, reg: &Registration, male: bool) -> io::Result<()> {
        writeln!(
            self.w,
            "{},{},{},{},{},{},{}",
            csv_field(&reg.patient_id),
            csv_field(&reg.name),
            if male { "男" } else { "女" },
            reg.birth.iso(),
            csv_field(reg.id_number.as_deref().unwrap_or("")),
            csv_field(&reg.phone),
            csv_field(&reg.address)
        )
    }

    /// Flushes the file; returns its path.
    pub fn finish(mut self) -> io::Result<PathBuf> {
        self.w.flush()?;
        Ok(self.path)
    }
}

fn csv_field(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\"")).into()
    } else {
        s.into()
    }
}
