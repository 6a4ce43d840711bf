//! The shared limiter's settings: `redis_url`, `redis_namespace`, `redis_unreachable` and
//! `GROQCHAT_REDIS_URL`.

use groq_config::{Config, RedisUnreachable};

#[test]
fn redis_keys_are_read_and_written_back() {
    let config = Config::from_json_str(
        r#"{ "redis_url": "redis://127.0.0.1:6379/2", "redis_namespace": "team-a",
             "redis_unreachable": "local:1/4" }"#,
        "inline",
    )
    .unwrap();
    assert_eq!(
        config.redis.url.as_deref(),
        Some("redis://127.0.0.1:6379/2")
    );
    assert_eq!(config.redis.namespace.as_deref(), Some("team-a"));
    assert_eq!(
        config.redis.unreachable,
        RedisUnreachable::Local { share: 0.25 }
    );
    let again = Config::from_json_str(&config.to_json_pretty(), "written").unwrap();
    assert_eq!(again.redis, config.redis);
    assert_eq!(Config::default().redis.unreachable, RedisUnreachable::Wait);
    assert!(!Config::default().to_json_pretty().contains("redis"));
}

#[test]
fn bad_redis_values_name_the_key() {
    for (text, key) in [
        (r#"{ "redis_url": "http://127.0.0.1:6379" }"#, "redis_url"),
        (r#"{ "redis_url": 6379 }"#, "redis_url"),
        (r#"{ "redis_namespace": " " }"#, "redis_namespace"),
        (
            r#"{ "redis_unreachable": "local:1.5" }"#,
            "redis_unreachable",
        ),
        (r#"{ "redis_unreachable": "panic" }"#, "redis_unreachable"),
    ] {
        let err = Config::from_json_str(text, "inline").unwrap_err();
        assert_eq!(err.key(), Some(key), "{text}: {err}");
        assert!(err.to_string().contains(key), "{err}");
    }
}

#[test]
fn the_environment_names_the_redis_url_and_a_file_overrides_it() {
    let env =
        |name: &str| (name == "GROQCHAT_REDIS_URL").then(|| "redis://10.0.0.1:6379".to_owned());
    let config = Config::from_env_with(env).unwrap();
    assert_eq!(config.redis.url.as_deref(), Some("redis://10.0.0.1:6379"));
    let bad = |name: &str| (name == "GROQCHAT_REDIS_URL").then(|| "localhost".to_owned());
    let err = Config::from_env_with(bad).unwrap_err();
    assert!(err.to_string().contains("GROQCHAT_REDIS_URL"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("groqchat.json");
    std::fs::write(&file, r#"{ "redis_url": "redis://10.0.0.2:6379" }"#).unwrap();
    let config = Config::load_with(Some(&file), env).unwrap();
    assert_eq!(config.redis.url.as_deref(), Some("redis://10.0.0.2:6379"));
    // A file that sets only the policy keeps the environment's URL.
    std::fs::write(&file, r#"{ "redis_unreachable": "local:0.5" }"#).unwrap();
    let config = Config::load_with(Some(&file), env).unwrap();
    assert_eq!(config.redis.url.as_deref(), Some("redis://10.0.0.1:6379"));
    assert_eq!(
        config.redis.unreachable,
        RedisUnreachable::Local { share: 0.5 }
    );
}
