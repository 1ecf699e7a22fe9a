//! Selection time and database size for 10,000 recorded testcases: a database holding
//! 10,000 testcases (each executing 5 of 2,000 function units in 50 files, with the
//! fingerprints as of its run) is written, then one function is changed and the selection
//! is computed from the database, as `--affected` does at start-up.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use testrig::impact::{ImpactDatabase, StoredUnit, TestcaseRecord, select};

fn main() {
    let dir = std::env::temp_dir().join(format!("testrig-impact-bench-{}", std::process::id()));
    let path = dir.join("impact.sqlite");
    let units: Vec<StoredUnit> = (0..2000)
        .map(|i| StoredUnit {
            key: format!("src/file{}.rs::function{i}", i % 50),
            is_function: true,
            file: format!("src/file{}.rs", i % 50),
            fingerprint: format!("{:032x}", i * 7919),
        })
        .collect();
    let mut records = BTreeMap::new();
    for t in 0..10_000usize {
        let picked: Vec<&StoredUnit> = (0..5)
            .map(|k| &units[(t * 13 + k * 401) % units.len()])
            .collect();
        records.insert(
            format!("Test{}/Suite{}/case{t}", t / 1000, (t / 100) % 10),
            TestcaseRecord {
                failed: false,
                units: picked
                    .iter()
                    .map(|unit| (unit.key.clone(), unit.fingerprint.clone()))
                    .collect(),
                files: picked
                    .iter()
                    .map(|unit| (unit.file.clone(), format!("digest of {}", unit.file)))
                    .collect(),
                inputs: String::new(),
            },
        );
    }
    let (mut database, _) = ImpactDatabase::open(&path, "bench").expect("the database opens");
    database
        .record(&records, None)
        .expect("the run is recorded");
    drop(database);
    let size = std::fs::metadata(&path).map(|meta| meta.len()).unwrap_or(0);

    let mut current = units.clone();
    current[123].fingerprint = "changed".into();
    let wanted: BTreeMap<String, String> = records
        .keys()
        .map(|uid| (uid.clone(), String::new()))
        .collect();
    let mut times = Vec::new();
    let mut selected = 0;
    for _ in 0..5 {
        let started = Instant::now();
        let (database, _) =
            ImpactDatabase::open_to_select(&path, "bench").expect("the database opens");
        let database = database.expect("the recorded database");
        let current_units: HashMap<&str, &str> = current
            .iter()
            .map(|unit| (unit.key.as_str(), unit.fingerprint.as_str()))
            .collect();
        let digests: Vec<(String, String)> = (0..50)
            .map(|i| {
                let file = format!("src/file{i}.rs");
                let digest = format!("digest of {file}");
                (file, digest)
            })
            .collect();
        let current_files: HashMap<&str, &str> = digests
            .iter()
            .map(|(file, digest)| (file.as_str(), digest.as_str()))
            .collect();
        let selection = select(
            &wanted,
            &database
                .testcases_changed(&current_units, &current_files)
                .expect("testcases"),
        );
        selected = selection
            .values()
            .filter(|reasons| !reasons.is_empty())
            .count();
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    println!("impact_select_10k_ms {:.1} ms", times[times.len() / 2]);
    println!("impact_select_10k_selected {selected} testcases");
    println!("impact_db_10k_mb {:.2} MB", size as f64 / 1e6);
    let _ = std::fs::remove_dir_all(dir);
}
