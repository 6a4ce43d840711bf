//! RedisLimiter on a 3-master Redis Cluster made in the test: every model's keys live in one
//! slot (hash tags), different models land on different masters, and sharing still holds.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{RedisServer, unique_namespace};
use groq_config::Rate;
use groq_ratelimit::{Cost, Dimension, Quota, RateLimiter, ReserveError};
use groq_ratelimit_redis::RedisLimiter;

fn cluster() -> Vec<RedisServer> {
    let nodes: Vec<RedisServer> = (0..3)
        .map(|_| {
            RedisServer::start_with(&[
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                "2000",
            ])
        })
        .collect();
    let addresses: Vec<String> = nodes
        .iter()
        .map(|n| format!("127.0.0.1:{}", n.port))
        .collect();
    let output = Command::new("redis-cli")
        .args(["--cluster", "create"])
        .args(&addresses)
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run redis-cli ({e}): install it with `apt-get install -y redis-tools` \
                 (.ci/run does)"
            )
        });
    assert!(
        output.status.success(),
        "redis-cli --cluster create failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // Wait until every node sees the whole cluster.
    for node in &nodes {
        let mut ok = false;
        for _ in 0..100 {
            let info = Command::new("redis-cli")
                .args(["-p", &node.port.to_string(), "cluster", "info"])
                .output()
                .unwrap();
            if String::from_utf8_lossy(&info.stdout).contains("cluster_state:ok") {
                ok = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(ok, "node {} never reported cluster_state:ok", node.port);
    }
    nodes
}

#[test]
fn the_limiter_works_across_the_slots_of_a_cluster() {
    let nodes = cluster();
    let urls: Vec<String> = nodes.iter().map(RedisServer::url).collect();
    let urls = urls.join(",");
    let ns = unique_namespace("cluster");
    let quota = Quota::unlimited().with_rate(Dimension::RequestsPerMinute, Rate::per_minute(3));
    let models: Vec<String> = (0..12).map(|i| format!("model-{i}")).collect();
    let build = || {
        let mut builder = RedisLimiter::builder(&urls)
            .namespace(&ns)
            .margin(Duration::ZERO)
            .horizon(Duration::ZERO)
            .op_timeout(Duration::from_secs(2));
        for model in &models {
            builder = builder.quota(model.clone(), quota);
        }
        builder.build().unwrap()
    };
    let (a, b) = (build(), build());
    for model in &models {
        a.reserve(model, &Cost::request(1)).unwrap().keep();
        b.reserve(model, &Cost::request(1)).unwrap().commit(1);
        a.reserve(model, &Cost::request(1)).unwrap().refund();
        a.flush(Duration::from_secs(2));
        b.reserve(model, &Cost::request(1)).unwrap().keep();
        assert!(
            matches!(
                a.reserve(model, &Cost::request(1)),
                Err(ReserveError::Wait {
                    dimension: Dimension::RequestsPerMinute,
                    ..
                })
            ),
            "{model}: a fourth request fit a quota of three"
        );
        b.flush(Duration::from_secs(2));
        let snapshot = a.snapshot(model).unwrap();
        assert_eq!(snapshot.get(Dimension::RequestsPerMinute).unwrap().used, 3);
    }
    // The models' keys are spread over the masters.
    let mut used_nodes = 0;
    for node in &nodes {
        let keys = Command::new("redis-cli")
            .args(["-p", &node.port.to_string(), "dbsize"])
            .output()
            .unwrap();
        let count: u64 = String::from_utf8_lossy(&keys.stdout)
            .trim()
            .parse()
            .unwrap_or(0);
        if count > 0 {
            used_nodes += 1;
        }
    }
    assert!(used_nodes >= 2, "every model landed on one master");
}
