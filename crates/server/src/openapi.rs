//! The OpenAPI 3 document, generated from the handlers and wire types: each dialect module
//! contributes its part, merged here, and it is served at `GET /api/v1/openapi.json`.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::OpenApi;

/// The whole service's OpenAPI document.
pub fn document() -> OpenApi {
    let mut doc = utoipa::openapi::OpenApiBuilder::new()
        .info(
            utoipa::openapi::InfoBuilder::new()
                .title("tiderun")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Run untrusted code in fresh sandboxes: native (`/api/v1`), Piston v2 (`/api/v2`) and \
                     Judge0 CE 1.13.1 (at the root) APIs. Every mistake in a request is answered with a 4xx \
                     that says what is wrong. When the server has API tokens, send one as `X-Auth-Token`, \
                     `Authorization: Bearer TOKEN` or a bare `Authorization: TOKEN` (Piston clients).",
                ))
                .build(),
        )
        .build();
    doc.merge(crate::native::openapi());
    doc.merge(crate::piston::openapi());
    doc.merge(crate::judge0::openapi());
    doc.merge(crate::page::openapi());
    doc.merge(crate::console::openapi());
    add_security(&mut doc);
    doc
}

/// API tokens: either header, and optional (`{}`), since a server without tokens needs none.
fn add_security(doc: &mut OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "token",
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
            "X-Auth-Token",
            "An API token of the server (Judge0's header)",
        ))),
    );
    components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    components.add_security_scheme(
        "key",
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
            "Authorization",
            "An API token of the server as the whole header, without a scheme (what Piston clients send)",
        ))),
    );
    doc.security = Some(vec![
        SecurityRequirement::default(),
        SecurityRequirement::new("token", Vec::<String>::new()),
        SecurityRequirement::new("bearer", Vec::<String>::new()),
        SecurityRequirement::new("key", Vec::<String>::new()),
    ]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_has_the_native_api_and_serializes() {
        let doc = document();
        let json: serde_json::Value = serde_json::from_str(&doc.to_json().unwrap()).unwrap();
        assert!(json["openapi"].as_str().unwrap().starts_with("3."));
        for path in [
            "/api/v1/run",
            "/api/v1/runtimes",
            "/api/v1/ws",
            "/api/v1/openapi.json",
            "/api/v1/snippets",
            "/api/v1/snippets/{id}",
            "/api/v1/exercises",
            "/api/v1/exercises/{id}",
            "/api/v1/exercises/{id}/submit",
            "/",
            "/s/{id}",
            "/assets/{path}",
        ] {
            assert!(json["paths"][path].is_object(), "{path} is missing");
        }
        let schemas = &json["components"]["schemas"];
        for schema in [
            "RunRequest",
            "RunResponse",
            "TestsResponse",
            "RuntimeInfo",
            "ErrorBody",
            "ImageResponse",
            "LimitReached",
            "SnippetRequest",
            "SnippetResponse",
            "Exercise",
            "ExerciseSummary",
            "ExerciseView",
            "SubmitRequest",
        ] {
            assert!(schemas[schema].is_object(), "{schema} is missing");
        }
        assert_eq!(schemas["RunRequest"]["additionalProperties"], false);
        assert_eq!(json["components"]["securitySchemes"]["token"]["name"], "X-Auth-Token");
        assert_eq!(json["security"][0], serde_json::json!({}));
        // Posting an exercise needs a token; the page never does.
        assert_eq!(
            json["paths"]["/api/v1/exercises"]["post"]["security"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        assert_eq!(json["paths"]["/"]["get"]["security"], serde_json::json!([{}]));
    }
}
