//! `[kafka]`: brokers, client properties, topics and summary outputs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `[kafka]`: with this table, `flowlogd run` moves data between its roles through Kafka.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// Bootstrap servers, `host:port[,host:port…]`.
    pub brokers: String,
    /// Prefix of the consumer groups: `<group>.parse` and `<group>.aggregate`.
    #[serde(default = "default_group")]
    pub group: String,
    /// Any librdkafka property, passed through to every client
    /// (`security.protocol`, `sasl.mechanism`, `ssl.ca.location`, `compression.type`, …).
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    /// librdkafka properties read from environment variables (property → variable name),
    /// so secrets such as `sasl.password` stay out of the file.
    #[serde(default)]
    pub properties_env: BTreeMap<String, String>,
    #[serde(default)]
    pub topics: TopicsConfig,
    /// Summary outputs; default one JSON output to `topics.summaries`.
    #[serde(default)]
    pub outputs: Vec<OutputConfig>,
    /// Raw chunks the source role may have produced but not yet seen acknowledged.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: usize,
}

/// `[kafka.topics]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TopicsConfig {
    pub raw: String,
    pub partials: String,
    pub summaries: String,
    pub deadletter: String,
    /// Partitions of topics flowlogd creates (existing topics are used as they are).
    pub partitions: i32,
    pub replication: i32,
    /// Create missing topics (else a missing topic is an error at startup).
    pub create: bool,
}

impl Default for TopicsConfig {
    fn default() -> Self {
        Self {
            raw: "flowlogd.raw".into(),
            partials: "flowlogd.partials".into(),
            summaries: "flowlogd.summaries".into(),
            deadletter: "flowlogd.deadletter".into(),
            partitions: 6,
            replication: 1,
            create: true,
        }
    }
}

/// `[[kafka.outputs]]`: one topic of summary rows in one format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    pub topic: String,
    #[serde(default)]
    pub format: OutputFormat,
    /// Only these summaries (default: every summary).
    #[serde(default)]
    pub summaries: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// The JSON row of the `jsonl` sink.
    #[default]
    Json,
    /// OCSF Network Activity (class 4001) aggregated events.
    Ocsf,
}

fn default_group() -> String {
    "flowlogd".into()
}

fn default_max_in_flight() -> usize {
    256
}

/// One problem in `[kafka]`: key, what is wrong, how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaConfigIssue {
    pub key: String,
    pub problem: String,
    pub fix: String,
}

impl KafkaConfig {
    /// The summary outputs in force (the default JSON output when none is configured).
    pub fn outputs(&self) -> Vec<OutputConfig> {
        if self.outputs.is_empty() {
            vec![OutputConfig {
                topic: self.topics.summaries.clone(),
                format: OutputFormat::Json,
                summaries: Vec::new(),
            }]
        } else {
            self.outputs.clone()
        }
    }

    /// Every client property: configured ones, then those from the environment.
    pub fn client_properties(&self) -> Result<BTreeMap<String, String>, KafkaConfigIssue> {
        let mut props = self.properties.clone();
        for (prop, var) in &self.properties_env {
            match std::env::var(var) {
                Ok(v) => {
                    props.insert(prop.clone(), v);
                }
                Err(_) => {
                    return Err(KafkaConfigIssue {
                        key: format!("kafka.properties_env.{prop:?}"),
                        problem: format!("environment variable {var} is not set"),
                        fix: format!("export {var}=… before starting flowlogd"),
                    })
                }
            }
        }
        Ok(props)
    }

    pub fn validate(&self, summaries: &[String]) -> Vec<KafkaConfigIssue> {
        let mut out = Vec::new();
        let mut issue = |key: &str, problem: String, fix: &str| {
            out.push(KafkaConfigIssue {
                key: key.into(),
                problem,
                fix: fix.into(),
            })
        };
        if self.brokers.trim().is_empty() {
            issue(
                "kafka.brokers",
                "is empty".into(),
                "set brokers = \"kafka-1:9092,kafka-2:9092\"",
            );
        }
        if self.topics.partitions < 1 {
            issue(
                "kafka.topics.partitions",
                format!("{} is below 1", self.topics.partitions),
                "use at least as many partitions as processes you plan to run, e.g. 6",
            );
        }
        if self.topics.replication < 1 {
            issue(
                "kafka.topics.replication",
                format!("{} is below 1", self.topics.replication),
                "use 3 on a production cluster, 1 on a single broker",
            );
        }
        let t = &self.topics;
        let names = [&t.raw, &t.partials, &t.summaries, &t.deadletter];
        for (i, n) in names.iter().enumerate() {
            if n.is_empty() || names[..i].contains(n) {
                issue(
                    "kafka.topics",
                    format!("topic name {n:?} is empty or used twice"),
                    "give raw, partials, summaries and deadletter distinct names",
                );
            }
        }
        if self.max_in_flight == 0 {
            issue("kafka.max_in_flight", "is 0".into(), "use 256");
        }
        for (i, o) in self.outputs.iter().enumerate() {
            if [&t.raw, &t.partials, &t.deadletter].contains(&&o.topic) {
                issue(
                    &format!("kafka.outputs[{i}].topic"),
                    format!("{:?} is one of flowlogd's internal topics", o.topic),
                    "use flowlogd.summaries or a topic of its own",
                );
            }
            for s in &o.summaries {
                if !summaries.contains(s) {
                    issue(
                        &format!("kafka.outputs[{i}].summaries"),
                        format!("unknown summary {s:?}"),
                        "name a built-in or configured summary",
                    );
                }
            }
        }
        for prop in self.properties_env.keys() {
            if self.properties.contains_key(prop) {
                issue(
                    &format!("kafka.properties_env.{prop:?}"),
                    "is also set in kafka.properties".into(),
                    "set it in one place",
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(variant: &str) -> KafkaConfig {
        serde_json::from_value(serde_json::json!({ "brokers": "b:9092" }))
            .map(|mut c: KafkaConfig| {
                if variant == "bad" {
                    c.topics.partitions = 0;
                    c.topics.partials = c.topics.raw.clone();
                    c.outputs.push(OutputConfig {
                        topic: c.topics.raw.clone(),
                        format: OutputFormat::Ocsf,
                        summaries: vec!["nope".into()],
                    });
                }
                c
            })
            .unwrap()
    }

    #[test]
    fn defaults_are_valid_and_have_one_json_output() {
        let c = cfg("");
        assert!(c.validate(&["traffic".into()]).is_empty());
        let o = c.outputs();
        assert_eq!(o.len(), 1);
        assert_eq!(o[0].topic, "flowlogd.summaries");
        assert_eq!(o[0].format, OutputFormat::Json);
    }

    #[test]
    fn every_problem_names_its_key() {
        let keys: Vec<String> = cfg("bad")
            .validate(&["traffic".into()])
            .into_iter()
            .map(|i| i.key)
            .collect();
        assert!(
            keys.contains(&"kafka.topics.partitions".to_string()),
            "{keys:?}"
        );
        assert!(keys.contains(&"kafka.topics".to_string()), "{keys:?}");
        assert!(
            keys.contains(&"kafka.outputs[0].topic".to_string()),
            "{keys:?}"
        );
        assert!(
            keys.contains(&"kafka.outputs[0].summaries".to_string()),
            "{keys:?}"
        );
    }

    #[test]
    fn secrets_come_from_the_environment() {
        let mut c = cfg("");
        c.properties_env.insert(
            "sasl.password".into(),
            "FLOWLOGD_TEST_UNSET_VARIABLE".into(),
        );
        let e = c.client_properties().unwrap_err();
        assert!(e.problem.contains("FLOWLOGD_TEST_UNSET_VARIABLE"), "{e:?}");
    }
}
