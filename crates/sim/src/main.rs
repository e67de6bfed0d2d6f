//! `yrd-sim`: N simulated OCPP 1.6 charging stations against a running `yrd`.
//!
//!   yrd-sim --base http://127.0.0.1:8080 --token "$OPERATOR" --stations 10000 --rate 5000 --seconds 30

use clap::Parser;
use yrd_sim::{Simulation, run};

#[tokio::main]
async fn main() -> Result<(), String> {
    let report = run(Simulation::parse()).await?;
    println!("{report}");
    Ok(())
}
