//! `GET /openapi.json`: the OpenAPI 3.1 description of this server's HTTP API.
//!
//! Hand-written (`openapi.json` beside this file) rather than derived with `utoipa`: the request
//! types are parsed by hand-checked serde structs with per-endpoint rules (which of `messages`
//! and `prompt`, what `logprobs` means) that annotations would restate anyway, and the proc-macro
//! stack would add minutes to a clean build on two cores. What keeps it honest: [`ROUTES`] lists
//! every route the router serves, a unit test checks that the document describes exactly those
//! (method and path) and that every `$ref` resolves, and an integration test checks that the
//! server answers each of them. `info.version` is set to the crate's version when served.

use axum::Json;
use serde_json::Value;

/// Every (method, path) the router serves, in axum's path syntax. Add a route here and to
/// `openapi.json` when adding it to `server::router`.
pub const ROUTES: &[(&str, &str)] = &[
    ("post", "/v1/chat/completions"),
    ("post", "/v1/completions"),
    ("get", "/v1/models"),
    ("get", "/v1/models/{model}"),
    ("post", "/v1/feedback"),
    ("put", "/v1/routes/{route}"),
    ("post", "/v1/adapters"),
    ("delete", "/v1/adapters/{name}"),
    ("get", "/health"),
    ("get", "/ready"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
];

const DOCUMENT: &str = include_str!("openapi.json");

/// The document with this build's version.
pub fn document() -> Value {
    let mut doc: Value = serde_json::from_str(DOCUMENT).unwrap_or_default();
    if let Some(info) = doc.get_mut("info") {
        info["version"] = Value::String(env!("CARGO_PKG_VERSION").to_string());
    }
    doc
}

pub async fn openapi() -> Json<Value> {
    Json(document())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    match (k.as_str(), v) {
                        ("$ref", Value::String(r)) => out.push(r),
                        _ => refs(v, out),
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn the_document_describes_exactly_the_served_routes_and_its_refs_resolve() {
        let doc: Value = serde_json::from_str(DOCUMENT).expect("openapi.json is JSON");
        let mut described: Vec<(String, String)> = doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, ops)| {
                ops.as_object()
                    .unwrap()
                    .keys()
                    .map(move |m| (m.clone(), path.clone()))
            })
            .collect();
        let mut served: Vec<(String, String)> = ROUTES
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        described.sort();
        served.sort();
        assert_eq!(described, served);
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(found.len() > 10);
        for r in found {
            let pointer = r.strip_prefix('#').unwrap();
            assert!(doc.pointer(pointer).is_some(), "unresolved $ref {r}");
        }
        assert_eq!(document()["info"]["version"], env!("CARGO_PKG_VERSION"));
    }
}
