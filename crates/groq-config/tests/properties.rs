//! Properties: every valid configuration round-trips through the native format, and no input
//! makes the loader panic.

use std::time::Duration;

use groq_config::catalog::BUILTIN_MODEL_IDS;
use groq_config::{
    ApiKey, Config, LimitKind, Limits, ModelConfig, PriorityAging, Rate, UnknownModelPolicy,
};
use proptest::prelude::*;
use serde_json::Value;

fn duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        (1u64..=1_000_000).prop_map(Duration::from_secs),
        (1u64..=10u64.pow(18)).prop_map(Duration::from_nanos),
        (0u64..=1_000_000_000, 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
    ]
}

/// A rate of `kind`: per its natural period (written as a plain integer) or per any period.
fn rate(kind: LimitKind) -> impl Strategy<Value = Rate> {
    let limit = prop_oneof![1u64..=100_000, 1u64..=u64::MAX];
    (limit, prop::option::of(duration())).prop_map(move |(limit, period)| {
        let period = period
            .filter(|p| !p.is_zero())
            .unwrap_or(kind.natural_period());
        Rate::new(limit, period).expect("limit and period are positive")
    })
}

fn limits() -> impl Strategy<Value = Limits> {
    (
        prop::option::of(rate(LimitKind::RequestsPerMinute)),
        prop::option::of(rate(LimitKind::RequestsPerDay)),
        prop::option::of(rate(LimitKind::TokensPerMinute)),
        prop::option::of(rate(LimitKind::TokensPerDay)),
        prop::option::of(1u32..=u32::MAX),
    )
        .prop_map(|(rpm, rpd, tpm, tpd, in_flight)| {
            Limits::default()
                .with_requests_per_minute(rpm)
                .with_requests_per_day(rpd)
                .with_tokens_per_minute(tpm)
                .with_tokens_per_day(tpd)
                .with_max_in_flight(in_flight)
        })
}

fn base_url() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(Config::DEFAULT_BASE_URL.to_owned()),
        (1u16..=u16::MAX).prop_map(|port| format!("http://127.0.0.1:{port}/openai/v1")),
        "[a-z]{1,12}\\.[a-z]{2,5}(/[a-z0-9]{1,8}){1,3}".prop_map(|rest| format!("https://{rest}")),
    ]
}

fn api_key() -> impl Strategy<Value = ApiKey> {
    "(gsk_)?[A-Za-z0-9_\\-]{1,48}".prop_map(ApiKey::new)
}

fn model_id() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(BUILTIN_MODEL_IDS.to_vec()).prop_map(str::to_owned),
        "[a-z0-9][a-z0-9./:_-]{0,30}",
        // Any printable id without surrounding spaces, including non-ASCII.
        "[^\\s\\p{Cc}]([^\\p{Cc}]{0,10}[^\\s\\p{Cc}])?",
    ]
}

fn model() -> impl Strategy<Value = ModelConfig> {
    (
        model_id(),
        limits(),
        prop::array::uniform3(1u32..=u32::MAX),
        prop::array::uniform3(any::<bool>()),
        prop::option::of(base_url()),
        prop::option::of(api_key()),
    )
        .prop_map(|(id, limits, mut counts, present, url, key)| {
            // default <= max completion <= context window, whichever are present.
            counts.sort_unstable();
            let [default, max, window] = counts;
            let keep = |value: u32, keep: bool| keep.then_some(value);
            ModelConfig::new(id)
                .with_limits(limits)
                .with_default_completion_tokens(keep(default, present[0]))
                .with_max_completion_tokens(keep(max, present[1]))
                .with_context_window(keep(window, present[2]))
                .with_base_url(url)
                .with_api_key(key)
        })
}

fn unknown_model_policy() -> impl Strategy<Value = UnknownModelPolicy> {
    prop_oneof![
        Just(UnknownModelPolicy::Reject),
        Just(UnknownModelPolicy::AllowUnlimited),
        limits().prop_map(UnknownModelPolicy::AllowWithLimits),
    ]
}

prop_compose! {
    fn config()(
        clear_catalog in any::<bool>(),
        removed in prop::option::of(prop::sample::select(BUILTIN_MODEL_IDS.to_vec())),
        models in prop::collection::vec(model(), 0..6),
        url in base_url(),
        key in prop::option::of(api_key()),
        default_completion in 1u32..=u32::MAX,
        aging in (duration(), duration()),
        policy in unknown_model_policy(),
        timeout in duration(),
        retries in any::<u32>(),
    ) -> Config {
        let mut builder = Config::builder();
        if clear_catalog {
            builder = builder.clear_models();
        }
        if let Some(id) = removed {
            builder = builder.remove_model(id);
        }
        for model in models {
            builder = builder.model(model);
        }
        if let Some(key) = key {
            builder = builder.api_key(key);
        }
        let (a, b) = aging;
        builder
            .base_url(url)
            .default_completion_tokens(default_completion)
            .priority_aging(PriorityAging::new(a.min(b), a.max(b)))
            .unknown_models(policy)
            .request_timeout(timeout)
            .stream_timeout(timeout * 10)
            .stream_idle_timeout(timeout)
            .max_retries(retries)
            .build()
            .expect("the strategy only produces valid configurations")
    }
}

/// Arbitrary JSON, biased towards the shapes the loader looks at.
fn json() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        prop::sample::select(vec![
            "models",
            "base_url",
            "api_key",
            "req_per_minute",
            "req_per_day",
            "token_per_minute",
            "token_per_day",
            "context_window",
            "max_in_flight",
            "limit",
            "per",
            "priority_aging",
            "normal",
            "low",
            "unknown_models",
            "request_timeout",
            "stream_timeout",
            "stream_idle_timeout",
            "max_retries",
            "builtin_catalog",
            "default_completion_tokens",
            "max_completion_tokens",
            "llama-3.1-8b-instant",
        ])
        .prop_map(str::to_owned),
        ".{0,8}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        (-2i64..=3).prop_map(Value::from),
        prop::sample::select(vec![
            "6s",
            "0s",
            "1m30s",
            "reject",
            "unlimited",
            "https://x.io",
            "gsk_",
            "1.5.5s",
            "",
            "99999999999999999999999d",
        ])
        .prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_valid_config_round_trips(config in config()) {
        let text = config.to_json_pretty();
        let back = Config::from_json_str(&text, "round trip");
        prop_assert!(back.is_ok(), "{:?}\n{}", back, text);
        prop_assert_eq!(back.ok(), Some(config));
    }

    #[test]
    fn the_loader_never_panics_on_json(value in json()) {
        let text = value.to_string();
        if let Ok(config) = Config::from_json_str(&text, "fuzz") {
            // Whatever loads is valid and writes back to itself.
            prop_assert!(config.validate().is_ok());
            let again = Config::from_json_str(&config.to_json_pretty(), "fuzz");
            prop_assert_eq!(again.ok(), Some(config));
        }
    }

    #[test]
    fn the_loader_never_panics_on_text(text in "\\PC{0,64}") {
        let _ = Config::from_json_str(&text, "fuzz");
    }

    #[test]
    fn redaction_shows_at_most_a_short_prefix_and_four_last_characters(
        key in "[A-Za-z0-9_]{12,64}",
    ) {
        let api_key = ApiKey::new(key.clone());
        let display = api_key.to_string();
        let split = display.split_once('…');
        prop_assert!(split.is_some(), "{}", display);
        let (head, tail) = split.unwrap_or_default();
        prop_assert!(key.starts_with(head) && key.ends_with(tail), "{} -> {}", key, display);
        prop_assert!(head.is_empty() || (head.len() <= 5 && head.ends_with('_')), "{}", display);
        prop_assert_eq!(tail.chars().count(), 4);
        prop_assert_eq!(format!("{api_key:?}"), format!("ApiKey({display})"));
    }
}
