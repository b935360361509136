//! Chat templates rendered the way `transformers` renders them: Jinja with `trim_blocks` and
//! `lstrip_blocks`, one trailing newline of the source dropped, Python string methods
//! (`.strip()`, `.startswith()`, ...), `raise_exception(msg)`, `strftime_now(fmt)`, and a
//! `tojson` that writes what Python's `json.dumps(ensure_ascii=False)` writes.

use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Kwargs, ValueKind};
use minijinja::{Environment, Error, ErrorKind, Value};
use std::fmt::Write;

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub role: String,
    pub content: String,
}

impl Message {
    pub fn new(role: &str, content: &str) -> Message {
        Message { role: role.into(), content: content.into() }
    }
}

/// The special tokens `transformers` hands the template (`bos_token`, `eos_token`, ...).
#[derive(Debug, Clone, Default)]
pub struct TemplateTokens {
    pub named: Vec<(String, String)>,
    pub additional: Vec<String>,
}

/// A compiled chat template.
pub struct ChatTemplate {
    env: Environment<'static>,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChatTemplate")
    }
}

const NAME: &str = "chat";

impl ChatTemplate {
    /// Compiles `source`; a syntax error is reported with its line.
    pub fn new(source: &str) -> Result<ChatTemplate, String> {
        let mut env = Environment::new();
        let syntax = SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(false)
            .build()
            .map_err(|e| e.to_string())?;
        env.set_syntax(syntax);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", |msg: String| -> Result<Value, Error> {
            Err(Error::new(ErrorKind::InvalidOperation, msg))
        });
        env.add_function("strftime_now", |fmt: String| -> Result<Value, Error> {
            let mut out = String::new();
            write!(out, "{}", chrono::Local::now().format(&fmt))
                .map_err(|_| Error::new(ErrorKind::InvalidOperation, format!("bad strftime format `{fmt}`")))?;
            Ok(Value::from(out))
        });
        env.add_filter("tojson", tojson);
        env.add_template_owned(NAME, source.to_string()).map_err(describe)?;
        Ok(ChatTemplate { env })
    }

    /// Renders the conversation with the variables `transformers` passes.
    pub fn render(
        &self,
        messages: &[Message],
        add_generation_prompt: bool,
        tokens: &TemplateTokens,
    ) -> Result<String, String> {
        let messages: Vec<Value> = messages
            .iter()
            .map(|m| minijinja::context! { role => m.role.as_str(), content => m.content.as_str() })
            .collect();
        let mut ctx: Vec<(String, Value)> = vec![
            ("messages".into(), Value::from(messages)),
            ("add_generation_prompt".into(), Value::from(add_generation_prompt)),
            ("tools".into(), Value::from(())),
            ("documents".into(), Value::from(())),
        ];
        for (name, token) in &tokens.named {
            ctx.push((name.clone(), Value::from(token.as_str())));
        }
        if !tokens.additional.is_empty() {
            let list: Vec<Value> = tokens.additional.iter().map(|t| Value::from(t.as_str())).collect();
            ctx.push(("additional_special_tokens".into(), Value::from(list)));
        }
        let ctx = Value::from(ctx.into_iter().collect::<std::collections::BTreeMap<String, Value>>());
        let template = self.env.get_template(NAME).map_err(describe)?;
        template.render(ctx).map_err(describe)
    }
}

fn describe(e: Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        let _ = write!(text, ": {s}");
        source = s.source();
    }
    text
}

/// Python's `json.dumps(value, ensure_ascii=False, indent=indent)` (what `transformers`
/// installs as `tojson`): `", "` and `": "` separators, keys in insertion order.
fn tojson(value: Value, kwargs: Kwargs) -> Result<Value, Error> {
    let indent: Option<usize> = kwargs.get("indent")?;
    let _: Option<bool> = kwargs.get("sort_keys")?;
    kwargs.assert_all_used()?;
    let mut out = String::new();
    write_json(&value, indent, 0, &mut out)?;
    Ok(Value::from_safe_string(out))
}

fn write_json(value: &Value, indent: Option<usize>, depth: usize, out: &mut String) -> Result<(), Error> {
    let newline = |out: &mut String, depth: usize| {
        if let Some(n) = indent {
            out.push('\n');
            out.push_str(&" ".repeat(n * depth));
        }
    };
    let item_sep = if indent.is_some() { "," } else { ", " };
    let key_sep = ": ";
    match value.kind() {
        ValueKind::Undefined | ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if value.is_true() { "true" } else { "false" }),
        ValueKind::Number => out.push_str(&value.to_string()),
        ValueKind::String => out.push_str(&serde_json::Value::from(value.as_str().unwrap_or_default()).to_string()),
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Value> = value.try_iter()?.collect();
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, depth + 1);
                write_json(item, indent, depth + 1, out)?;
            }
            if !items.is_empty() {
                newline(out, depth);
            }
            out.push(']');
        }
        ValueKind::Map => {
            let keys: Vec<Value> = value.try_iter()?.collect();
            out.push('{');
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, depth + 1);
                let name = match key.as_str() {
                    Some(s) => s.to_string(),
                    None => key.to_string(),
                };
                out.push_str(&serde_json::Value::from(name).to_string());
                out.push_str(key_sep);
                write_json(&value.get_item(key)?, indent, depth + 1, out)?;
            }
            if !keys.is_empty() {
                newline(out, depth);
            }
            out.push('}');
        }
        _ => out.push_str(&serde_json::Value::from(value.to_string()).to_string()),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> TemplateTokens {
        TemplateTokens {
            named: vec![("bos_token".into(), "<s>".into()), ("eos_token".into(), "</s>".into())],
            additional: vec![],
        }
    }

    #[test]
    fn trims_blocks_and_drops_one_trailing_newline() {
        let t = ChatTemplate::new(
            "{% for m in messages %}\n  {% if m.role == 'user' %}\nU: {{ m.content }}\n  {% endif %}\n{% endfor %}\n",
        )
        .unwrap();
        let out = t.render(&[Message::new("user", "hi")], false, &tokens()).unwrap();
        assert_eq!(out, "U: hi\n");
    }

    #[test]
    fn python_methods_and_raise_exception() {
        let t = ChatTemplate::new("{{ bos_token + messages[0]['content'].strip() }}{% if messages|length > 1 %}{{ raise_exception('only one') }}{% endif %}").unwrap();
        assert_eq!(t.render(&[Message::new("user", "  x ")], false, &tokens()).unwrap(), "<s>x");
        let err = t.render(&[Message::new("user", "a"), Message::new("assistant", "b")], false, &tokens()).unwrap_err();
        assert!(err.contains("only one"), "{err}");
    }

    #[test]
    fn tojson_writes_python_json() {
        let t = ChatTemplate::new("{{ messages[0] | tojson }}").unwrap();
        assert_eq!(
            t.render(&[Message::new("user", "é\"<")], false, &tokens()).unwrap(),
            r#"{"role": "user", "content": "é\"<"}"#
        );
    }

    #[test]
    fn strftime_now_is_available() {
        let t = ChatTemplate::new("{{ strftime_now('%Y') }}").unwrap();
        let year = t.render(&[], false, &tokens()).unwrap();
        assert_eq!(year.len(), 4);
    }
}
