//! API routes that carry their own documentation: a route can only be added together
//! with its OpenAPI description, so `/api/openapi.json` lists every route there is.

use axum::Router;
use axum::handler::Handler;
use axum::routing::{MethodRouter, delete, get, patch, post, put};
use schemars::{JsonSchema, Schema, SchemaGenerator, generate::SchemaSettings};
use serde_json::{Map, Value, json};

type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

fn schema_of<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

fn inline_schema_of<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.root_schema_for::<T>()
}

/// How one operation is described in the OpenAPI document.
#[derive(Clone)]
pub struct Doc {
    summary: &'static str,
    description: Option<&'static str>,
    query: Option<SchemaFn>,
    body: Option<SchemaFn>,
    response: Option<(u16, SchemaFn)>,
    response_type: Option<&'static str>,
    public: bool,
}

impl Doc {
    pub fn new(summary: &'static str) -> Self {
        Doc {
            summary,
            description: None,
            query: None,
            body: None,
            response: None,
            response_type: None,
            public: false,
        }
    }

    pub fn describe(mut self, description: &'static str) -> Self {
        self.description = Some(description);
        self
    }

    /// Query parameters: the properties of `T`.
    pub fn query<T: JsonSchema>(mut self) -> Self {
        self.query = Some(inline_schema_of::<T>);
        self
    }

    /// A JSON request body of type `T`.
    pub fn body<T: JsonSchema>(mut self) -> Self {
        self.body = Some(schema_of::<T>);
        self
    }

    /// A 200 JSON response of type `T`.
    pub fn response<T: JsonSchema>(mut self) -> Self {
        self.response = Some((200, schema_of::<T>));
        self
    }

    /// A 201 JSON response of type `T`.
    pub fn created<T: JsonSchema>(mut self) -> Self {
        self.response = Some((201, schema_of::<T>));
        self
    }

    /// A 200 response of another media type (text, CSV).
    pub fn produces(mut self, media_type: &'static str) -> Self {
        self.response_type = Some(media_type);
        self
    }

    /// Needs no credentials.
    pub fn public(mut self) -> Self {
        self.public = true;
        self
    }
}

#[derive(Clone)]
pub struct Operation {
    pub method: &'static str,
    pub path: String,
    pub doc: Doc,
}

/// A router that records the documentation of each route it is given.
#[derive(Default)]
pub struct ApiRoutes {
    router: Router,
    operations: Vec<Operation>,
}

impl ApiRoutes {
    pub fn new() -> Self {
        Self::default()
    }

    fn add(mut self, method: &'static str, path: &str, doc: Doc, route: MethodRouter) -> Self {
        self.router = self.router.route(path, route);
        self.operations.push(Operation {
            method,
            path: path.to_string(),
            doc,
        });
        self
    }

    pub fn get<H: Handler<T, ()>, T: 'static>(self, path: &str, doc: Doc, handler: H) -> Self {
        self.add("get", path, doc, get(handler))
    }

    pub fn post<H: Handler<T, ()>, T: 'static>(self, path: &str, doc: Doc, handler: H) -> Self {
        self.add("post", path, doc, post(handler))
    }

    pub fn put<H: Handler<T, ()>, T: 'static>(self, path: &str, doc: Doc, handler: H) -> Self {
        self.add("put", path, doc, put(handler))
    }

    pub fn patch<H: Handler<T, ()>, T: 'static>(self, path: &str, doc: Doc, handler: H) -> Self {
        self.add("patch", path, doc, patch(handler))
    }

    pub fn delete<H: Handler<T, ()>, T: 'static>(self, path: &str, doc: Doc, handler: H) -> Self {
        self.add("delete", path, doc, delete(handler))
    }

    /// Splits into the axum router and the documented operations, with `prefix`
    /// prepended to the documented paths.
    pub fn into_parts(self, prefix: &str) -> (Router, Vec<Operation>) {
        let operations = self
            .operations
            .into_iter()
            // A nested "/" is served at the prefix itself, without a trailing slash.
            .map(|op| Operation {
                path: if op.path == "/" {
                    prefix.to_string()
                } else {
                    format!("{prefix}{}", op.path)
                },
                ..op
            })
            .collect();
        (self.router, operations)
    }
}

/// One group of operations under a tag (a module, or the platform itself).
pub struct ApiGroup {
    pub tag: &'static str,
    pub description: &'static str,
    pub operations: Vec<Operation>,
}

fn path_parameters(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect()
}

fn query_parameters(schema: Schema) -> Vec<Value> {
    let value = schema.to_value();
    let required: Vec<&str> = value
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(properties) = value.get("properties").and_then(Value::as_object) else {
        return Vec::new();
    };
    properties
        .iter()
        .map(|(name, schema)| {
            let mut parameter =
                json!({"name": name, "in": "query", "required": required.contains(&name.as_str()), "schema": schema});
            if let Some(description) = schema.get("description") {
                parameter["description"] = description.clone();
            }
            parameter
        })
        .collect()
}

/// The OpenAPI 3.1 document of every group.
pub fn openapi_document(groups: &[ApiGroup], version: &str) -> Value {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|s| s.definitions_path = "/components/schemas".into())
        .into_generator();
    let mut inline = SchemaSettings::draft2020_12()
        .with(|s| s.inline_subschemas = true)
        .into_generator();
    let problem = generator.subschema_for::<crate::problem::Problem>();
    let mut paths: Map<String, Value> = Map::new();
    for group in groups {
        for op in &group.operations {
            let mut parameters = path_parameters(&op.path);
            if let Some(query) = op.doc.query {
                parameters.extend(query_parameters(query(&mut inline)));
            }
            let mut responses = Map::new();
            let (status, content) = match (op.doc.response, op.doc.response_type) {
                (Some((status, schema)), _) => {
                    (status, json!({"application/json": {"schema": schema(&mut generator)}}))
                }
                (None, Some(media)) => (200, json!({media: {"schema": {"type": "string"}}})),
                (None, None) => (204, Value::Null),
            };
            let mut ok = json!({"description": "Success"});
            if !content.is_null() {
                ok["content"] = content;
            }
            responses.insert(status.to_string(), ok);
            for (code, text) in [
                ("400", "Malformed request: the errors name the field"),
                ("401", "No valid credentials"),
                ("403", "The caller's grants do not cover this"),
                ("422", "Validation failed: the errors name each field"),
            ] {
                if op.doc.public && (code == "401" || code == "403") {
                    continue;
                }
                responses.insert(
                    code.into(),
                    json!({"description": text, "content": {"application/problem+json": {"schema": problem.clone()}}}),
                );
            }
            let mut operation = json!({
                "tags": [group.tag],
                "summary": op.doc.summary,
                "operationId": format!("{}_{}", op.method, op.path.trim_matches('/').replace(['/', '{', '}', '-'], "_")),
                "parameters": parameters,
                "responses": responses,
            });
            if let Some(description) = op.doc.description {
                operation["description"] = json!(description);
            }
            if let Some(body) = op.doc.body {
                operation["requestBody"] =
                    json!({"required": true, "content": {"application/json": {"schema": body(&mut generator)}}});
            }
            if op.doc.public {
                operation["security"] = json!([]);
            }
            paths
                .entry(op.path.clone())
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .expect("path items are objects")
                .insert(op.method.to_string(), operation);
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "YRD Platform API",
            "version": version,
            "description": "The API of the Yangtze River Delta integration platform. Errors are RFC 9457 problem+json.",
            "license": {"name": "MIT OR Apache-2.0", "identifier": "MIT OR Apache-2.0"}
        },
        "tags": groups.iter().map(|g| json!({"name": g.tag, "description": g.description})).collect::<Vec<_>>(),
        "paths": paths,
        "components": {
            "schemas": generator.take_definitions(true),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "An API token from `yrd user token create` or the console's user page"},
                "session": {"type": "apiKey", "in": "cookie", "name": crate::caller::SESSION_COOKIE}
            }
        },
        "security": [{"bearer": []}, {"session": []}],
    })
}
