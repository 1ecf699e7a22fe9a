//! Context values: settings of one driver that come from another driver's attributes,
//! resolved when the dependent driver starts (Testplan's `context("server", "{{port}}")`).
//!
//! Expressions and config templates are minijinja in strict mode: a missing attribute is an
//! error that names the driver, the expression and the attributes that do exist, never an
//! empty string that fails later and far away.

use std::collections::BTreeMap;

use minijinja::value::Serde;
use minijinja::{Environment, UndefinedBehavior};

use crate::env::driver::{Attributes, DriverError};

/// `context("server", "{{port}}")`: an expression over one driver's attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextValue {
    /// The driver whose attributes the expression reads.
    pub driver: String,
    /// The minijinja expression, e.g. `{{port}}` or `{{host}}:{{port}}`.
    pub expression: String,
}

/// A context value: resolved from `driver`'s attributes when the dependent driver starts.
pub fn context(driver: impl Into<String>, expression: impl Into<String>) -> ContextValue {
    ContextValue {
        driver: driver.into(),
        expression: expression.into(),
    }
}

/// A driver setting: a literal or a context value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigValue {
    /// Used as given.
    Literal(String),
    /// Resolved at start from another driver's attributes.
    Context(ContextValue),
}

impl ConfigValue {
    /// The driver a context value reads, if this is one.
    pub fn referenced_driver(&self) -> Option<&str> {
        match self {
            ConfigValue::Literal(_) => None,
            ConfigValue::Context(value) => Some(&value.driver),
        }
    }

    /// Checks that a context value's expression parses (plan validation, before anything runs).
    pub(crate) fn check_syntax(&self) -> Result<(), String> {
        match self {
            ConfigValue::Literal(_) => Ok(()),
            ConfigValue::Context(value) => {
                check_template_syntax(&value.expression).map_err(|error| {
                    format!(
                        "context value `{}` of driver `{}`: {error}",
                        value.expression, value.driver
                    )
                })
            }
        }
    }

    /// The setting's value, with context values rendered from the scope.
    pub fn resolve(&self, scope: &ContextScope) -> Result<String, DriverError> {
        match self {
            ConfigValue::Literal(text) => Ok(text.clone()),
            ConfigValue::Context(value) => scope.resolve(value),
        }
    }
}

impl std::fmt::Display for ConfigValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigValue::Literal(text) => f.write_str(text),
            ConfigValue::Context(value) => {
                write!(f, "context({:?}, {:?})", value.driver, value.expression)
            }
        }
    }
}

impl From<ContextValue> for ConfigValue {
    fn from(value: ContextValue) -> ConfigValue {
        ConfigValue::Context(value)
    }
}

impl From<&str> for ConfigValue {
    fn from(value: &str) -> ConfigValue {
        ConfigValue::Literal(value.to_string())
    }
}

impl From<String> for ConfigValue {
    fn from(value: String) -> ConfigValue {
        ConfigValue::Literal(value)
    }
}

impl From<&String> for ConfigValue {
    fn from(value: &String) -> ConfigValue {
        ConfigValue::Literal(value.clone())
    }
}

impl From<&std::path::Path> for ConfigValue {
    fn from(value: &std::path::Path) -> ConfigValue {
        ConfigValue::Literal(value.display().to_string())
    }
}

impl From<std::path::PathBuf> for ConfigValue {
    fn from(value: std::path::PathBuf) -> ConfigValue {
        ConfigValue::Literal(value.display().to_string())
    }
}

macro_rules! config_value_from_numbers {
    ($($number:ty),*) => {
        $(impl From<$number> for ConfigValue {
            fn from(value: $number) -> ConfigValue {
                ConfigValue::Literal(value.to_string())
            }
        })*
    };
}

config_value_from_numbers!(u16, u32, u64, i32, i64, usize);

/// The attributes of the drivers started so far, by driver name.
#[derive(Debug, Clone, Default)]
pub struct ContextScope {
    drivers: BTreeMap<String, Attributes>,
}

fn strict_environment() -> Environment<'static> {
    let mut environment = Environment::new();
    environment.set_undefined_behavior(UndefinedBehavior::Strict);
    // Config files end in a newline; Jinja drops it unless asked.
    if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder()
        .keep_trailing_newline(true)
        .build()
    {
        environment.set_syntax(syntax);
    }
    environment
}

/// Checks that a template parses.
pub(crate) fn check_template_syntax(template: &str) -> Result<(), String> {
    strict_environment()
        .template_from_str(template)
        .map(|_| ())
        .map_err(|error| error.to_string())
}

impl ContextScope {
    /// An empty scope.
    pub fn new() -> ContextScope {
        ContextScope::default()
    }

    /// Adds (or replaces) a started driver's attributes.
    pub fn insert(&mut self, driver: impl Into<String>, attributes: Attributes) {
        self.drivers.insert(driver.into(), attributes);
    }

    /// The attributes of one driver.
    pub fn get(&self, driver: &str) -> Option<&Attributes> {
        self.drivers.get(driver)
    }

    /// Every driver in the scope with its attributes.
    pub fn drivers(&self) -> &BTreeMap<String, Attributes> {
        &self.drivers
    }

    /// Renders a context value against its driver's attributes.
    pub fn resolve(&self, value: &ContextValue) -> Result<String, DriverError> {
        let Some(attributes) = self.drivers.get(&value.driver) else {
            let started: Vec<&str> = self.drivers.keys().map(String::as_str).collect();
            return Err(DriverError::new(format!(
                "context value `{}` reads driver `{}`, which has not started (started: {}); make `{}` a dependency of this driver",
                value.expression,
                value.driver,
                if started.is_empty() {
                    "none".to_string()
                } else {
                    started.join(", ")
                },
                value.driver
            )));
        };
        let environment = strict_environment();
        let rendered = environment
            .template_from_str(&value.expression)
            .and_then(|template| template.render(minijinja::Value::from(Serde(attributes))));
        rendered.map_err(|error| {
            let names: Vec<&str> = attributes.keys().map(String::as_str).collect();
            DriverError::new(format!(
                "context value `{}` of driver `{}` cannot be resolved: {}; `{}` has the attributes: {}",
                value.expression,
                value.driver,
                error_reason(&error),
                value.driver,
                names.join(", ")
            ))
        })
    }

    /// Renders a config template that sees every started driver as `context["name"]`.
    pub fn render_template(&self, template: &str, what: &str) -> Result<String, DriverError> {
        let environment = strict_environment();
        let context =
            minijinja::context! { context => minijinja::Value::from(Serde(&self.drivers)) };
        environment
            .template_from_str(template)
            .and_then(|template| template.render(context))
            .map_err(|error| {
                let drivers: Vec<String> = self
                    .drivers
                    .iter()
                    .map(|(name, attributes)| {
                        let keys: Vec<&str> = attributes.keys().map(String::as_str).collect();
                        format!("{name} ({})", keys.join(", "))
                    })
                    .collect();
                DriverError::new(format!(
                    "failed to render {what}: {}; available: {}",
                    error_reason(&error),
                    if drivers.is_empty() {
                        "no started drivers".to_string()
                    } else {
                        drivers.join("; ")
                    }
                ))
            })
    }
}

fn error_reason(error: &minijinja::Error) -> String {
    use minijinja::ErrorKind;
    let mut reason = error.to_string();
    if let Some(line) = error.line() {
        reason = format!("{reason} (line {line})");
    }
    let unknown = matches!(
        error.kind(),
        ErrorKind::UnknownFilter | ErrorKind::UnknownTest | ErrorKind::UnknownFunction
    );
    if unknown && cfg!(not(feature = "template-filters")) {
        reason.push_str(
            "; Jinja's built-in filters, tests and functions need testrig's `template-filters` feature (Cargo.toml)",
        );
    }
    reason
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scope() -> ContextScope {
        let mut scope = ContextScope::new();
        let mut attributes = Attributes::new();
        attributes.insert("host".into(), json!("127.0.0.1"));
        attributes.insert("port".into(), json!(4242));
        scope.insert("server", attributes);
        scope
    }

    #[test]
    fn context_values_render_against_their_driver() {
        let value: ConfigValue = context("server", "{{host}}:{{port}}").into();
        assert_eq!(value.resolve(&scope()).unwrap(), "127.0.0.1:4242");
        assert_eq!(
            ConfigValue::from(8080u16).resolve(&scope()).unwrap(),
            "8080"
        );
    }

    #[test]
    fn a_missing_attribute_names_the_driver_expression_and_what_exists() {
        let error = scope().resolve(&context("server", "{{prot}}")).unwrap_err();
        assert!(error.message.contains("`{{prot}}`"), "{}", error.message);
        assert!(
            error.message.contains("driver `server`"),
            "{}",
            error.message
        );
        assert!(error.message.contains("host, port"), "{}", error.message);
    }

    #[test]
    fn a_driver_that_has_not_started_is_an_error() {
        let error = scope().resolve(&context("db", "{{port}}")).unwrap_err();
        assert!(
            error
                .message
                .contains("driver `db`, which has not started (started: server)"),
            "{}",
            error.message
        );
    }

    #[test]
    fn templates_see_every_driver_under_context() {
        let text = scope()
            .render_template("port = {{ context[\"server\"].port }}\n", "redis.conf")
            .unwrap();
        assert_eq!(text, "port = 4242\n");
        let error = scope()
            .render_template("{{ context.db.port }}", "redis.conf")
            .unwrap_err();
        assert!(
            error.message.contains("failed to render redis.conf"),
            "{}",
            error.message
        );
        assert!(
            error.message.contains("server (host, port)"),
            "{}",
            error.message
        );
    }

    #[test]
    fn syntax_errors_are_found_before_anything_starts() {
        assert!(check_template_syntax("{{ port").is_err());
        assert!(
            ConfigValue::from(context("a", "{% if %}"))
                .check_syntax()
                .is_err()
        );
        assert!(
            ConfigValue::from(context("a", "{{port}}"))
                .check_syntax()
                .is_ok()
        );
    }

    #[test]
    fn filters_follow_the_template_filters_feature() {
        let upper = scope().resolve(&context("server", "{{ host | upper }}:{{ port }}"));
        let loops = scope().render_template(
            "{% for n in [1, 2] %}{{ n }}{% endfor %}{% if context.server.port > 1 %}!{% endif %}",
            "loops",
        );
        // The core syntax works either way.
        assert_eq!(loops.unwrap(), "12!");
        if cfg!(feature = "template-filters") {
            assert_eq!(upper.unwrap(), "127.0.0.1:4242");
        } else {
            let error = upper.unwrap_err();
            assert!(
                error
                    .message
                    .contains("testrig's `template-filters` feature"),
                "{}",
                error.message
            );
        }
    }
}
