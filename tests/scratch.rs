use herd::core::*;
use herd::sim::*;
use std::time::Duration;
#[test]
fn scratch() {
    let mut sim = Sim::new(1, NodeConfig::default(), NetworkModel::default());
    for i in 0..1000 { sim.add_host(&format!("node-{i}")); }
    sim.start(0, &[]);
    for i in 1..1000 { sim.start(i, &[0]); sim.run_until(sim.now() + Duration::from_millis(30)); }
    sim.run_until(Duration::from_secs(200));
    let before: Vec<_> = (0..1000).map(|i| sim.node(i).unwrap().stats()).collect();
    sim.run_until(Duration::from_secs(260));
    let after: Vec<_> = (0..1000).map(|i| sim.node(i).unwrap().stats()).collect();
    let d = |f: fn(&NodeStats)->u64| -> u64 { before.iter().zip(&after).map(|(b,a)| f(a)-f(b)).sum() };
    println!("per node per s: packets {:.2} scans {:.2} packets-with-updates {:.2}", d(|s| s.packets_received) as f64/60000.0, d(|s| s.joins_refused) as f64/60000.0, d(|s| s.rejoins) as f64/60000.0);
}
