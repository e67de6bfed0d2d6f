//! Settlements per second through the service layer (registries, policy lookup, the
//! person's lock, ledger postings, audit) and month-end clearing time for a large month,
//! on a fresh SQLite file — or PostgreSQL with `--db postgres://…`.
//!
//! `cargo run --release -p yrd-insurance --example throughput -- [--settlements N] [--month-size N] [--db URL]`

use std::time::Instant;
use yrd_db::Db;

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_string())
}

#[tokio::main]
async fn main() {
    let settlements: usize = arg("--settlements", "2000").parse().expect("a number");
    let month_size: i64 = arg("--month-size", "1000000").parse().expect("a number");
    let path = std::env::temp_dir().join(format!("yrd-ins-bench-{}.db", std::process::id()));
    let target = arg("--db", path.to_str().expect("utf-8"));
    let db = Db::connect(&target).await.expect("database");
    let modules: Vec<std::sync::Arc<dyn yrd_web::Module>> =
        vec![std::sync::Arc::new(yrd_insurance::InsuranceModule::new())];
    db.migrate(&yrd_web::all_migrations(&modules))
        .await
        .expect("migrations");

    // The demonstration registries (82 funds, ~200 institutions, 300 people) and N settlements.
    let started = Instant::now();
    yrd_insurance::demo::load(&db, settlements).await.expect("demo");
    let elapsed = started.elapsed().as_secs_f64();
    println!("{settlements} settlements through the service layer (with registries set up) in {elapsed:.2} s");
    let started = Instant::now();
    let visit_rows: i64 = {
        use sqlx::Row;
        sqlx::query("SELECT COUNT(*) FROM ins_settlements")
            .fetch_one(db.pool())
            .await
            .expect("count")
            .get(0)
    };
    println!("  ({visit_rows} settlement rows)");

    // A large month: copies of one real settlement row, as the month's clearing sees them.
    use sqlx::Row;
    let template = sqlx::query("SELECT id FROM ins_settlements WHERE kind = 'settlement' AND SUBSTR(insured_fund, 1, 2) <> SUBSTR(treatment_place, 1, 2) LIMIT 1").fetch_one(db.pool()).await.expect("a settlement").get::<i64, _>(0);
    let insert = "INSERT INTO ins_settlements (visit_id, kind, insured_fund, institution, treatment_place, total_fen, fund_fen, account_fen, cash_fen, result, posting_id, month, settled_at) \
        SELECT visit_id, kind, insured_fund, institution, treatment_place, total_fen, fund_fen, account_fen, cash_fen, '{}', posting_id, '2001-01', settled_at FROM ins_settlements WHERE id = $1";
    let mut tx = db.begin().await.expect("tx");
    for _ in 0..month_size {
        sqlx::query(insert)
            .bind(template)
            .execute(tx.conn())
            .await
            .expect("insert");
    }
    tx.commit().await.expect("commit");
    println!(
        "  (a month of {month_size} settlements written in {:.1} s)",
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let statements = yrd_insurance::service::clear_month(&db, "bench", "2001-01")
        .await
        .expect("clearing");
    println!(
        "month-end clearing of {month_size} settlements: {} signed statements in {:.2} s",
        statements.len(),
        started.elapsed().as_secs_f64()
    );
    db.close().await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}
