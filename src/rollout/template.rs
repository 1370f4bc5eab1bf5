//! Hooks, health commands and probe URLs are minijinja templates. Each
//! argument is rendered on its own, so a value from a host or the plan can
//! never add or split arguments; undefined variables are errors, not "".

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

/// What a template can refer to: `host`, `group`, `run`, `plan`.
#[derive(Debug, Clone, Serialize)]
pub struct Scope {
    pub host: HostScope,
    pub group: GroupScope,
    pub run: RunScope,
    pub plan: PlanScope,
}

#[derive(Debug, Clone, Serialize)]
pub struct HostScope {
    pub name: String,
    pub address: String,
    pub labels: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GroupScope {
    pub name: String,
    pub labels: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunScope {
    pub id: String,
    pub wave: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanScope {
    /// `name=version` of every package the host gets.
    pub packages: Vec<String>,
    pub reboot: bool,
}

/// Renders one argument.
pub fn render(text: &str, scope: &Scope) -> Result<String, String> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.render_str(text, minijinja::value::Serde(scope))
        .map_err(|e| format!("template `{text}`: {e}"))
}

/// Renders every argument of a command.
pub fn render_argv(argv: &[String], scope: &Scope) -> Result<Vec<String>, String> {
    argv.iter().map(|a| render(a, scope)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> Scope {
        Scope {
            host: HostScope {
                name: "web-1".into(),
                address: "10.0.0.1".into(),
                labels: [("role".to_string(), "web; rm -rf /".to_string())].into(),
            },
            group: GroupScope {
                name: "web".into(),
                labels: Default::default(),
            },
            run: RunScope {
                id: "r1".into(),
                wave: 2,
            },
            plan: PlanScope {
                packages: vec!["openssl=3.0.17-1".into()],
                reboot: false,
            },
        }
    }

    #[test]
    fn each_argument_renders_alone_and_undefined_is_an_error() {
        let argv = render_argv(
            &[
                "curl".into(),
                "http://{{ host.address }}/health?wave={{ run.wave }}".into(),
                "{{ host.labels.role }}".into(),
                "{{ plan.packages | join(',') }}".into(),
            ],
            &scope(),
        )
        .unwrap();
        assert_eq!(
            argv,
            [
                "curl",
                "http://10.0.0.1/health?wave=2",
                "web; rm -rf /",
                "openssl=3.0.17-1"
            ]
        );
        let err = render("{{ host.nmae }}", &scope()).unwrap_err();
        assert!(err.contains("host.nmae"), "{err}");
    }
}
