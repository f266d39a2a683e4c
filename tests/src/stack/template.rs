//! `template.yaml` as CloudFormation sees it after the SAM transform (expanded by
//! `tests/stack/translate.py` with the official translator), and the intrinsic
//! functions (`Ref`, `Fn::GetAtt`, `Fn::Sub`, `Fn::Join`) resolved against the
//! resources the stack run created. Resources whose `Condition` is false for the
//! parameters given are left out, as CloudFormation leaves them out.

use anyhow::{anyhow, bail, Context};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// The account moto answers for.
pub const ACCOUNT_ID: &str = "123456789012";

/// The expanded template.
#[derive(Debug, Clone)]
pub struct Template {
    json: Value,
}

impl Template {
    /// Expand `template` with `python` (which has `aws-sam-translator`), with these parameter overrides.
    pub fn expand(python: &str, template: &Path, params: &[(&str, &str)]) -> anyhow::Result<Self> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("stack/translate.py");
        let mut cmd = std::process::Command::new(python);
        cmd.arg(&script).arg(template);
        for (k, v) in params {
            cmd.arg(format!("{k}={v}"));
        }
        let out = cmd.output().context("running translate.py")?;
        if !out.status.success() {
            bail!("the SAM transform failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let mut t = Self { json: serde_json::from_slice(&out.stdout)? };
        let values = t.parameters(params);
        let conditions = t.json["Conditions"].as_object().cloned().unwrap_or_default();
        let mut dropped = Vec::new();
        for (id, r) in t.json["Resources"].as_object().into_iter().flatten() {
            if let Some(name) = r["Condition"].as_str() {
                if !condition(&json!({ "Condition": name }), &conditions, &values)? {
                    dropped.push(id.clone());
                }
            }
        }
        if let Some(resources) = t.json["Resources"].as_object_mut() {
            resources.retain(|id, _| !dropped.contains(id));
        }
        Ok(t)
    }

    /// Every resource of `kind` (e.g. `AWS::SQS::Queue`), by logical id.
    pub fn resources(&self, kind: &str) -> Vec<(&str, &Map<String, Value>)> {
        let all = self.json["Resources"].as_object().into_iter().flatten();
        all.filter(|(_, r)| r["Type"] == kind)
            .map(|(id, r)| (id.as_str(), r["Properties"].as_object().unwrap_or(&EMPTY)))
            .collect()
    }

    /// Set `property` on every resource of `kind` that declares it.
    pub fn override_property(&mut self, kind: &str, property: &str, value: Value) {
        for r in self.json["Resources"].as_object_mut().into_iter().flat_map(|o| o.values_mut()) {
            if r["Type"] == kind {
                if let Some(p) = r["Properties"].as_object_mut().and_then(|p| p.get_mut(property)) {
                    *p = value.clone();
                }
            }
        }
    }

    /// How many resources the template declares.
    pub fn resources_count(&self) -> usize {
        self.json["Resources"].as_object().map_or(0, Map::len)
    }

    /// A resource's metadata (e.g. the binary a function is built from).
    pub fn metadata(&self, id: &str) -> &Value {
        &self.json["Resources"][id]["Metadata"]
    }

    /// Parameter defaults, overridden by `params`.
    pub fn parameters(&self, params: &[(&str, &str)]) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for (name, p) in self.json["Parameters"].as_object().into_iter().flatten() {
            let v = match &p["Default"] {
                Value::String(s) => s.clone(),
                Value::Null => continue,
                other => other.to_string(),
            };
            out.insert(name.clone(), v);
        }
        for (k, v) in params {
            out.insert((*k).to_owned(), (*v).to_owned());
        }
        out
    }
}

/// A condition's value: `Fn::Equals`, `Fn::Not`, `Fn::And`, `Fn::Or` over parameters and
/// other conditions.
fn condition(c: &Value, all: &Map<String, Value>, params: &BTreeMap<String, String>) -> anyhow::Result<bool> {
    let Some((k, arg)) = c.as_object().filter(|o| o.len() == 1).and_then(|o| o.iter().next()) else {
        bail!("not a condition: {c}");
    };
    let args = || arg.as_array().into_iter().flatten();
    let text = |v: &Value| -> anyhow::Result<String> {
        match v {
            Value::String(s) => Ok(s.clone()),
            Value::Object(o) if o.contains_key("Ref") => {
                let name = o["Ref"].as_str().unwrap_or_default();
                params.get(name).cloned().ok_or_else(|| anyhow!("condition: no parameter {name}"))
            }
            other => Ok(other.to_string()),
        }
    };
    Ok(match k.as_str() {
        "Condition" => {
            let name = arg.as_str().unwrap_or_default();
            condition(all.get(name).ok_or_else(|| anyhow!("no condition {name}"))?, all, params)?
        }
        "Fn::Equals" => {
            let v: Vec<String> = args().map(text).collect::<anyhow::Result<_>>()?;
            v.len() == 2 && v[0] == v[1]
        }
        "Fn::Not" => !condition(args().next().unwrap_or(&Value::Null), all, params)?,
        "Fn::And" => args().map(|a| condition(a, all, params)).collect::<anyhow::Result<Vec<_>>>()?.iter().all(|b| *b),
        "Fn::Or" => args().map(|a| condition(a, all, params)).collect::<anyhow::Result<Vec<_>>>()?.iter().any(|b| *b),
        other => bail!("condition function {other} is not known to the stack run"),
    })
}

static EMPTY: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);

/// What a created resource answers to `Ref` and `Fn::GetAtt`.
#[derive(Debug, Clone, Default)]
pub struct Created {
    /// `Ref` (a queue's URL, a table's name, a key's id, …).
    pub reference: String,
    /// `Fn::GetAtt` attributes (`Arn`, `QueueName`, …).
    pub attrs: BTreeMap<String, String>,
}

/// Resolves intrinsic functions against parameters, pseudo parameters and created resources.
#[derive(Debug, Clone)]
pub struct Resolver {
    /// Parameter values.
    pub params: BTreeMap<String, String>,
    /// Created resources by logical id.
    pub created: BTreeMap<String, Created>,
    /// The region.
    pub region: String,
    /// The stack's name (`AWS::StackName`; generated names start with it).
    pub stack: String,
}

impl Resolver {
    fn reference(&self, name: &str) -> anyhow::Result<String> {
        let pseudo = match name {
            "AWS::Region" => Some(self.region.clone()),
            "AWS::AccountId" => Some(ACCOUNT_ID.to_owned()),
            "AWS::Partition" => Some("aws".to_owned()),
            "AWS::StackName" => Some(self.stack.clone()),
            "AWS::URLSuffix" => Some("amazonaws.com".to_owned()),
            _ => None,
        };
        pseudo
            .or_else(|| self.params.get(name).cloned())
            .or_else(|| self.created.get(name).map(|c| c.reference.clone()))
            .ok_or_else(|| anyhow!("Ref {name}: no such parameter or created resource"))
    }

    fn attribute(&self, name: &str, attr: &str) -> anyhow::Result<String> {
        let c = self.created.get(name).ok_or_else(|| anyhow!("GetAtt {name}.{attr}: {name} was not created"))?;
        c.attrs.get(attr).cloned().ok_or_else(|| anyhow!("GetAtt {name}.{attr}: no such attribute"))
    }

    fn substitute(&self, text: &str, vars: &Map<String, Value>) -> anyhow::Result<String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}').ok_or_else(|| anyhow!("Fn::Sub: unclosed ${{ in {text}"))? + start;
            let name = &rest[start + 2..end];
            let value = match vars.get(name) {
                Some(v) => self.string(v)?,
                None => match name.split_once('.') {
                    Some((res, attr)) if !name.starts_with("AWS::") => self.attribute(res, attr)?,
                    _ => self.reference(name)?,
                },
            };
            out.push_str(&value);
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// `v` with every intrinsic function replaced by its value.
    pub fn resolve(&self, v: &Value) -> anyhow::Result<Value> {
        Ok(match v {
            Value::Object(o) if o.len() == 1 => {
                let (k, arg) = o.iter().next().expect("one entry");
                match k.as_str() {
                    "Ref" => Value::String(self.reference(arg.as_str().unwrap_or_default())?),
                    "Fn::GetAtt" => {
                        let (name, attr) = match arg {
                            Value::Array(a) if a.len() == 2 => {
                                (a[0].as_str().unwrap_or_default(), a[1].as_str().unwrap_or_default())
                            }
                            Value::String(s) => s.split_once('.').ok_or_else(|| anyhow!("GetAtt {s}"))?,
                            other => bail!("Fn::GetAtt {other}"),
                        };
                        Value::String(self.attribute(name, attr)?)
                    }
                    "Fn::Sub" => Value::String(match arg {
                        Value::String(s) => self.substitute(s, &EMPTY)?,
                        Value::Array(a) if a.len() == 2 => {
                            let vars = a[1].as_object().unwrap_or(&EMPTY);
                            self.substitute(a[0].as_str().unwrap_or_default(), vars)?
                        }
                        other => bail!("Fn::Sub {other}"),
                    }),
                    "Fn::Join" => {
                        let a = arg.as_array().filter(|a| a.len() == 2).ok_or_else(|| anyhow!("Fn::Join {arg}"))?;
                        let parts = self.resolve(&a[1])?;
                        let parts: Vec<String> = parts
                            .as_array()
                            .into_iter()
                            .flatten()
                            .map(|p| self.string(p))
                            .collect::<anyhow::Result<_>>()?;
                        Value::String(parts.join(a[0].as_str().unwrap_or_default()))
                    }
                    _ => Value::Object(self.resolve_map(o)?),
                }
            }
            Value::Object(o) => Value::Object(self.resolve_map(o)?),
            Value::Array(a) => Value::Array(a.iter().map(|x| self.resolve(x)).collect::<anyhow::Result<_>>()?),
            other => other.clone(),
        })
    }

    fn resolve_map(&self, o: &Map<String, Value>) -> anyhow::Result<Map<String, Value>> {
        o.iter().map(|(k, v)| Ok((k.clone(), self.resolve(v)?))).collect()
    }

    /// `v` resolved, as text (numbers and booleans as CloudFormation passes them).
    pub fn string(&self, v: &Value) -> anyhow::Result<String> {
        Ok(match self.resolve(v)? {
            Value::String(s) => s,
            other => other.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn conditions_are_evaluated_over_parameters_and_each_other() {
        let all: Map<String, Value> = serde_json::from_value(json!({
            "WithUrl": {"Fn::Equals": [{"Ref": "IngestFunctionUrl"}, "true"]},
            "Arm": {"Fn::Equals": [{"Ref": "Architecture"}, "arm64"]},
            "UrlOnArm": {"Fn::And": [{"Condition": "WithUrl"}, {"Condition": "Arm"}]},
            "UrlOrArm": {"Fn::Or": [{"Condition": "WithUrl"}, {"Condition": "Arm"}]},
            "NoUrl": {"Fn::Not": [{"Condition": "WithUrl"}]},
        }))
        .unwrap();
        let eval = |url: &str, arch: &str, name: &str| {
            let params: BTreeMap<String, String> =
                [("IngestFunctionUrl".to_owned(), url.to_owned()), ("Architecture".to_owned(), arch.to_owned())].into();
            condition(&json!({"Condition": name}), &all, &params).unwrap()
        };
        assert!(eval("true", "x86_64", "WithUrl") && !eval("false", "x86_64", "WithUrl"));
        assert!(!eval("true", "x86_64", "UrlOnArm") && eval("true", "arm64", "UrlOnArm"));
        assert!(eval("false", "arm64", "UrlOrArm") && !eval("false", "x86_64", "UrlOrArm"));
        assert!(eval("false", "x86_64", "NoUrl") && !eval("true", "x86_64", "NoUrl"));
        let params = BTreeMap::new();
        assert!(condition(&json!({"Condition": "Missing"}), &all, &params).is_err(), "an unknown condition");
        assert!(condition(&json!({"Fn::If": []}), &all, &params).is_err(), "a function it does not know");
        assert!(condition(&json!({"Condition": "WithUrl"}), &all, &params).is_err(), "a parameter not given");
    }
}
