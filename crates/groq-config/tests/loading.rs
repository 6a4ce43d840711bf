//! Loading both formats, the environment and its precedence, the unknown-model policy.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use groq_config::catalog::{BUILTIN_MODEL_IDS, builtin_model};
use groq_config::{
    Config, ConfigError, LimitKind, Limits, ModelConfig, PriorityAging, Rate, UnknownModelPolicy,
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A variable lookup over a fixed set of variables, standing in for the process environment.
fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| vars.get(name).cloned()
}

const ENV_KEY: &str = "gsk_environment_key_1234ENVK";

#[test]
fn the_seed_example_config_loads() {
    let config = Config::from_file(fixture("seed_config.json")).unwrap();

    let small = config.model("llama-3.1-8b-instant").unwrap();
    assert_eq!(small.limits.requests_per_minute, Some(Rate::per_minute(30)));
    assert_eq!(small.limits.requests_per_day, Some(Rate::per_day(14_400)));
    assert_eq!(
        small.limits.tokens_per_minute,
        Some(Rate::per_minute(6_000))
    );
    assert_eq!(small.limits.tokens_per_day, Some(Rate::per_day(500_000)));
    assert_eq!(small.context_window, Some(131_072));
    assert_eq!(
        small.base_url.as_deref(),
        Some("https://api.groq.com/openai/v1")
    );
    assert_eq!(
        small.api_key.as_ref().map(|k| k.expose_secret()),
        Some("gsk_...")
    );

    let large = config.model("llama-3.3-70b-versatile").unwrap();
    assert_eq!(
        large.limits.tokens_per_minute,
        Some(Rate::per_minute(12_000))
    );
    assert_eq!(large.limits.tokens_per_day, Some(Rate::per_day(100_000)));

    // CustomGroqChat's values are per model; nothing global is invented. As in CustomGroqChat, only the
    // listed models are served: the catalog is dropped and unknown models are refused.
    assert_eq!(config.api_key, None);
    assert_eq!(config.base_url, Config::DEFAULT_BASE_URL);
    assert_eq!(
        config.api_key_for(small).map(|k| k.expose_secret()),
        Some("gsk_...")
    );
    assert_eq!(config.models.len(), 2);
    assert_eq!(config.unknown_models, UnknownModelPolicy::Reject);
    for id in BUILTIN_MODEL_IDS {
        let listed = id == "llama-3.1-8b-instant" || id == "llama-3.3-70b-versatile";
        assert_eq!(config.model(id).is_some(), listed, "{id}");
    }
    assert!(builtin_model("qwen/qwen3-32b").is_some());
    assert!(config.model("qwen/qwen3-32b").is_none());
}

#[test]
fn the_native_format_loads_every_setting() {
    let config = Config::from_file(fixture("native_config.json")).unwrap();
    assert_eq!(config.base_url, "https://api.groq.com/openai/v1");
    assert_eq!(
        config.api_key.as_ref().map(|k| k.expose_secret()),
        Some("gsk_native_file_key_0000ABCD")
    );
    assert_eq!(config.default_completion_tokens, 512);
    assert_eq!(
        config.priority_aging,
        PriorityAging::new(Duration::from_secs(2), Duration::from_secs(60))
    );
    assert_eq!(config.unknown_models, UnknownModelPolicy::Reject);
    assert_eq!(config.request_timeout, Duration::from_secs(90));
    assert_eq!(config.stream_timeout, Duration::from_secs(300));
    assert_eq!(config.stream_idle_timeout, Duration::from_secs(20));
    assert_eq!(config.max_retries, 4);
    // `"builtin_catalog": false`: only the file's models.
    assert_eq!(
        config.models.keys().collect::<Vec<_>>(),
        ["llama-3.1-8b-instant", "local-model"]
    );

    let llama = config.model("llama-3.1-8b-instant").unwrap();
    let six_seconds = Duration::from_secs(6);
    assert_eq!(
        llama.limits.requests_per_minute,
        Some(Rate::new(30, six_seconds).unwrap())
    );
    assert_eq!(llama.limits.requests_per_day, Some(Rate::per_day(14_400)));
    assert_eq!(
        llama.limits.tokens_per_minute,
        Some(Rate::new(600, six_seconds).unwrap())
    );
    assert_eq!(llama.limits.tokens_per_day, None);
    assert_eq!(llama.limits.max_in_flight, Some(8));
    assert_eq!(llama.context_window, Some(131_072));
    assert_eq!(llama.max_completion_tokens, Some(8_192));
    assert_eq!(config.completion_allowance(llama), 256);
    assert_eq!(config.base_url_for(llama), "https://api.groq.com/openai/v1");

    let local = config.model("local-model").unwrap();
    assert!(local.limits.is_unlimited());
    assert_eq!(config.completion_allowance(local), 512);
    assert_eq!(
        config.base_url_for(local),
        "http://127.0.0.1:8089/openai/v1"
    );
    assert_eq!(
        config.api_key_for(local).map(|k| k.expose_secret()),
        Some("gsk_local_model_key_9999WXYZ")
    );
}

#[test]
fn an_empty_file_means_the_defaults() {
    assert_eq!(
        Config::from_json_str("{}", "empty").unwrap(),
        Config::default()
    );
    assert_eq!(
        Config::from_json_str(r#"{"models": {}}"#, "empty").unwrap(),
        Config::default()
    );
}

#[test]
fn the_defaults_are_documented_values() {
    let config = Config::default();
    assert_eq!(config.base_url, "https://api.groq.com/openai/v1");
    assert_eq!(config.api_key, None);
    assert_eq!(config.default_completion_tokens, 1_024);
    assert_eq!(config.priority_aging.normal, Duration::from_secs(5));
    assert_eq!(config.priority_aging.low, Duration::from_secs(30));
    assert_eq!(
        config.unknown_models,
        UnknownModelPolicy::AllowWithLimits(Limits::conservative())
    );
    assert_eq!(config.request_timeout, Duration::from_secs(60));
    assert_eq!(config.stream_timeout, Duration::from_secs(600));
    assert_eq!(config.stream_idle_timeout, Duration::from_secs(60));
    assert_eq!(config.max_retries, 2);
    assert_eq!(config.models.len(), BUILTIN_MODEL_IDS.len());
    config.validate().unwrap();
}

#[test]
fn a_file_model_replaces_the_catalog_entry_as_a_whole() {
    let config = Config::from_json_str(
        r#"{"models": {"llama-3.1-8b-instant": {"req_per_minute": 1000}}}"#,
        "developer plan",
    )
    .unwrap();
    let llama = config.model("llama-3.1-8b-instant").unwrap();
    assert_eq!(
        llama.limits.requests_per_minute,
        Some(Rate::per_minute(1000))
    );
    assert_eq!(llama.limits.tokens_per_minute, None);
    assert_eq!(llama.context_window, None);
    assert!(config.model("openai/gpt-oss-20b").is_some());
}

#[test]
fn environment_alone_fills_key_and_url() {
    assert_eq!(Config::from_env_with(env(&[])).unwrap(), Config::default());

    let config = Config::from_env_with(env(&[("GROQ_API_KEY", ENV_KEY)])).unwrap();
    assert_eq!(
        config.api_key.as_ref().map(|k| k.expose_secret()),
        Some(ENV_KEY)
    );
    assert_eq!(config.base_url, Config::DEFAULT_BASE_URL);
    assert_eq!(config.models, Config::default().models);

    let config = Config::from_env_with(env(&[
        ("GROQ_API_KEY", ENV_KEY),
        ("GROQ_BASE_URL", "http://127.0.0.1:8089/openai/v1/"),
    ]))
    .unwrap();
    assert_eq!(config.base_url, "http://127.0.0.1:8089/openai/v1");
}

#[test]
fn blank_variables_count_as_unset() {
    let config = Config::from_env_with(env(&[
        ("GROQ_API_KEY", ""),
        ("GROQ_BASE_URL", "  "),
        ("GROQ_CONFIG", ""),
    ]))
    .unwrap();
    assert_eq!(config, Config::default());
}

#[test]
fn the_file_beats_the_environment() {
    let native = fixture("native_config.json");
    let config = Config::from_env_with(env(&[
        ("GROQ_API_KEY", ENV_KEY),
        ("GROQ_BASE_URL", "http://127.0.0.1:9/v1"),
        ("GROQ_CONFIG", native.to_str().unwrap()),
    ]))
    .unwrap();
    assert_eq!(
        config.api_key.as_ref().map(|k| k.expose_secret()),
        Some("gsk_native_file_key_0000ABCD")
    );
    assert_eq!(config.base_url, "https://api.groq.com/openai/v1");
    assert_eq!(config.max_retries, 4);
}

#[test]
fn the_environment_fills_what_the_file_leaves_out() {
    let seed = fixture("seed_config.json");
    let config = Config::from_env_with(env(&[
        ("GROQ_API_KEY", ENV_KEY),
        ("GROQ_BASE_URL", "http://127.0.0.1:9/v1"),
        ("GROQ_CONFIG", seed.to_str().unwrap()),
    ]))
    .unwrap();
    // The CustomGroqChat file sets no global key or URL: the environment's apply globally ...
    assert_eq!(
        config.api_key.as_ref().map(|k| k.expose_secret()),
        Some(ENV_KEY)
    );
    assert_eq!(config.base_url, "http://127.0.0.1:9/v1");
    // CustomGroqChat's format serves only the models it lists, as CustomGroqChat did.
    assert!(config.model("openai/gpt-oss-20b").is_none());
    assert!(config.resolve_model("openai/gpt-oss-20b").is_err());
    // ... while the file's per-model values win for its models.
    let seed_model = config.model("llama-3.1-8b-instant").unwrap();
    assert_eq!(
        config.api_key_for(seed_model).map(|k| k.expose_secret()),
        Some("gsk_...")
    );
    assert_eq!(
        config.base_url_for(seed_model),
        "https://api.groq.com/openai/v1"
    );
}

#[test]
fn an_explicit_file_beats_groq_config() {
    let seed = fixture("seed_config.json");
    let native = fixture("native_config.json");
    let lookup = env(&[("GROQ_CONFIG", seed.to_str().unwrap())]);
    let config = Config::load_with(Some(&native), &lookup).unwrap();
    assert_eq!(config, Config::from_file(&native).unwrap());
    let config = Config::load_with(None, &lookup).unwrap();
    assert_eq!(config, Config::from_file(&seed).unwrap());
}

#[test]
fn a_missing_groq_config_file_is_an_io_error_naming_it() {
    let missing = fixture("does-not-exist.json");
    let err =
        Config::from_env_with(env(&[("GROQ_CONFIG", missing.to_str().unwrap())])).unwrap_err();
    let ConfigError::Io { path, source } = &err else {
        panic!("expected an I/O error, got {err:?}");
    };
    assert_eq!(path, &missing);
    assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
    let message = err.to_string();
    assert!(message.contains("does-not-exist.json"), "{message}");
    // Display does not repeat the source; it is reachable through `source()`.
    assert!(!message.contains(&source.to_string()), "{message}");
    assert!(std::error::Error::source(&err).is_some());
}

#[test]
fn bad_environment_values_name_the_variable() {
    let err =
        Config::from_env_with(env(&[("GROQ_BASE_URL", "api.groq.com/openai/v1")])).unwrap_err();
    assert_eq!(err.origin(), Some("environment variable GROQ_BASE_URL"));
    assert!(
        err.to_string().contains("\"api.groq.com/openai/v1\""),
        "{err}"
    );

    let secret = "gsk_has a_space_secret_9876";
    let err = Config::from_env_with(env(&[("GROQ_API_KEY", secret)])).unwrap_err();
    assert_eq!(err.origin(), Some("environment variable GROQ_API_KEY"));
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("has a_space"), "{shown}");
    assert!(shown.contains("gsk_…9876"), "{shown}");
}

#[test]
fn unknown_models_get_conservative_limits_by_default() {
    let config = Config::default();
    let known = config.resolve_model("llama-3.1-8b-instant").unwrap();
    assert!(matches!(known, Cow::Borrowed(_)));

    let unknown = config.resolve_model("brand-new-model").unwrap();
    assert!(matches!(unknown, Cow::Owned(_)));
    assert_eq!(unknown.id, "brand-new-model");
    assert_eq!(unknown.limits, Limits::conservative());
    assert_eq!(unknown.context_window, None);
    assert_eq!(config.completion_allowance(&unknown), 1_024);
}

#[test]
fn unknown_model_policies_from_files() {
    let unlimited = Config::from_json_str(r#"{"unknown_models": "unlimited"}"#, "policy").unwrap();
    assert_eq!(unlimited.unknown_models, UnknownModelPolicy::AllowUnlimited);
    assert!(unlimited.resolve_model("x").unwrap().limits.is_unlimited());

    let limited = Config::from_json_str(
        r#"{"unknown_models": {"req_per_minute": 10, "token_per_minute": {"limit": 100, "per": "1s"}, "max_in_flight": 2}}"#,
        "policy",
    )
    .unwrap();
    let model = limited.resolve_model("x").unwrap();
    assert_eq!(
        model.limits.get(LimitKind::RequestsPerMinute),
        Some(Rate::per_minute(10))
    );
    assert_eq!(
        model.limits.get(LimitKind::TokensPerMinute),
        Some(Rate::new(100, Duration::from_secs(1)).unwrap())
    );
    assert_eq!(model.limits.max_in_flight, Some(2));

    let reject = Config::from_json_str(r#"{"unknown_models": "reject"}"#, "policy").unwrap();
    let err = reject.resolve_model("brand-new-model").unwrap_err();
    assert!(matches!(err, ConfigError::UnknownModel { .. }));
    assert_eq!(err.model(), Some("brand-new-model"));
    let message = err.to_string();
    assert!(message.contains("brand-new-model"), "{message}");
    assert!(message.contains("llama-3.1-8b-instant"), "{message}");
    assert!(message.contains("unknown_models"), "{message}");
    assert!(reject.resolve_model("qwen/qwen3-32b").is_ok());
}

#[test]
fn an_empty_model_id_is_never_resolved() {
    let config = Config::builder()
        .unknown_models(UnknownModelPolicy::AllowUnlimited)
        .build()
        .unwrap();
    let err = config.resolve_model(" ").unwrap_err();
    assert_eq!(err.key(), Some("model"));
}

#[test]
fn the_completion_allowance_never_exceeds_the_model_maximum() {
    let config = Config::builder()
        .default_completion_tokens(4_096)
        .model(ModelConfig::new("small-output").with_max_completion_tokens(1_000))
        .model(ModelConfig::new("own-default").with_default_completion_tokens(64))
        .build()
        .unwrap();
    let small = config.model("small-output").unwrap();
    assert_eq!(config.completion_allowance(small), 1_000);
    let own = config.model("own-default").unwrap();
    assert_eq!(config.completion_allowance(own), 64);
}

#[test]
fn the_builder_validates() {
    let err = Config::builder()
        .default_completion_tokens(0)
        .build()
        .unwrap_err();
    assert_eq!(err.key(), Some("default_completion_tokens"));
    assert_eq!(err.origin(), Some("Config::builder()"));

    let err = Config::builder()
        .priority_aging(PriorityAging::new(
            Duration::from_secs(30),
            Duration::from_secs(5),
        ))
        .build()
        .unwrap_err();
    assert_eq!(err.key(), Some("priority_aging.low"));

    let err = Config::builder()
        .request_timeout(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(err.key(), Some("request_timeout"));
    for (builder, key) in [
        (
            Config::builder().stream_timeout(Duration::ZERO),
            "stream_timeout",
        ),
        (
            Config::builder().stream_idle_timeout(Duration::ZERO),
            "stream_idle_timeout",
        ),
    ] {
        assert_eq!(builder.build().unwrap_err().key(), Some(key));
    }

    let err = Config::builder()
        .unknown_models(UnknownModelPolicy::AllowWithLimits(
            Limits::default().with_max_in_flight(0),
        ))
        .build()
        .unwrap_err();
    assert_eq!(err.key(), Some("unknown_models.max_in_flight"));

    let err = Config::builder()
        .model(ModelConfig::new("m").with_context_window(0))
        .build()
        .unwrap_err();
    assert_eq!(
        (err.model(), err.key()),
        (Some("m"), Some("context_window"))
    );

    let err = Config::builder()
        .base_url("ftp://example.com")
        .build()
        .unwrap_err();
    assert_eq!(err.key(), Some("base_url"));

    let err = Config::builder().api_key("").build().unwrap_err();
    assert_eq!(err.key(), Some("api_key"));

    let config = Config::builder()
        .base_url("http://127.0.0.1:8089/v1/")
        .remove_model("groq/compound")
        .max_retries(0)
        .build()
        .unwrap();
    assert_eq!(config.base_url, "http://127.0.0.1:8089/v1");
    assert!(config.model("groq/compound").is_none());
    assert_eq!(config.max_retries, 0);
}

#[test]
fn validate_catches_direct_field_changes() {
    let mut config = Config::default();
    config.validate().unwrap();
    let mut model = ModelConfig::new("other-id");
    model.limits = Limits::default().with_tokens_per_day(Rate::per_day(1));
    config.models.insert("key-id".to_owned(), model);
    let err = config.validate().unwrap_err();
    assert_eq!((err.model(), err.key()), (Some("key-id"), Some("id")));
}

#[test]
fn config_debug_output_never_shows_keys() {
    let config = Config::from_file(fixture("native_config.json")).unwrap();
    let debug = format!("{config:?} {config:#?}");
    assert!(!debug.contains("gsk_native_file_key_0000ABCD"), "{debug}");
    assert!(!debug.contains("gsk_local_model_key_9999WXYZ"), "{debug}");
    assert!(debug.contains("gsk_…ABCD"));
    assert!(debug.contains("gsk_…WXYZ"));
}

#[test]
fn fixtures_round_trip_through_the_native_format() {
    for name in ["seed_config.json", "native_config.json"] {
        let config = Config::from_file(fixture(name)).unwrap();
        let text = config.to_json_pretty();
        assert_eq!(
            Config::from_json_str(&text, name).unwrap(),
            config,
            "{text}"
        );
    }
    // The defaults write no model: the catalog is referred to, not copied.
    let text = Config::default().to_json_pretty();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value["builtin_catalog"], true);
    assert_eq!(value["models"], serde_json::json!({}));
    assert_eq!(serde_json::to_value(Config::default()).unwrap(), value);
}

#[test]
fn written_limits_use_integers_for_natural_periods() {
    let config = Config::from_file(fixture("native_config.json")).unwrap();
    let value: serde_json::Value = serde_json::from_str(&config.to_json_pretty()).unwrap();
    let llama = &value["models"]["llama-3.1-8b-instant"];
    assert_eq!(llama["req_per_day"], 14_400);
    assert_eq!(
        llama["req_per_minute"],
        serde_json::json!({"limit": 30, "per": "6s"})
    );
    assert!(llama.get("token_per_day").is_none());
    assert_eq!(value["builtin_catalog"], false);
    assert_eq!(value["request_timeout"], "1m30s");
    assert_eq!(value["stream_timeout"], "5m");
    assert_eq!(value["stream_idle_timeout"], "20s");
    // The written file carries the key in full, as documented.
    assert_eq!(value["api_key"], "gsk_native_file_key_0000ABCD");
}

#[test]
fn a_base_url_without_a_path_gets_the_api_path_as_in_the_sdks() {
    for (given, used) in [
        ("https://api.groq.com", "https://api.groq.com/openai/v1"),
        ("https://api.groq.com/", "https://api.groq.com/openai/v1"),
        ("http://127.0.0.1:8089", "http://127.0.0.1:8089/openai/v1"),
        ("http://127.0.0.1:8089/v1", "http://127.0.0.1:8089/v1"),
        (
            "https://proxy.example/openai/v1/",
            "https://proxy.example/openai/v1",
        ),
    ] {
        let config = Config::from_env_with(env(&[("GROQ_BASE_URL", given)])).unwrap();
        assert_eq!(config.base_url, used, "{given}");
        let file = format!(r#"{{ "base_url": "{given}" }}"#);
        assert_eq!(Config::from_json_str(&file, "t").unwrap().base_url, used);
    }
}

#[test]
fn a_seed_file_serves_only_its_models_with_their_own_keys() {
    let config = Config::from_json_str(
        r#"{ "llama-3.1-8b-instant": { "api_key": "gsk_seed_model_key_0123", "req_per_minute": 30 } }"#,
        "seed.json",
    )
    .unwrap();
    assert_eq!(config.api_key, None);
    assert_eq!(
        config.models.keys().collect::<Vec<_>>(),
        ["llama-3.1-8b-instant"]
    );
    assert_eq!(config.unknown_models, UnknownModelPolicy::Reject);
    assert!(config.resolve_model("openai/gpt-oss-20b").is_err());
    let model = config.model("llama-3.1-8b-instant").unwrap();
    assert_eq!(
        config.api_key_for(model).map(|k| k.expose_secret()),
        Some("gsk_seed_model_key_0123")
    );
}
