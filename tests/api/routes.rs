//! `template.yaml`, the routers, the OpenAPI document and `events/` must agree.

use std::collections::BTreeSet;
use std::path::PathBuf;

use axum::http::{Method, StatusCode};
use portal::http::Group;
use portal_tests::{group_router, send, send_request, spawn_app};
use serde_json::json;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// (function, method, path) for every HttpApi event in `template.yaml`.
fn template_routes() -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(root().join("template.yaml")).expect("template.yaml");
    let mut routes = Vec::new();
    let (mut binary, mut path) = (None::<String>, None::<String>);
    for line in text.lines() {
        let trimmed = line.trim();
        if line.starts_with("  ") && !line.starts_with("   ") && trimmed.ends_with(':') {
            binary = None;
        }
        if let Some(b) = trimmed.strip_prefix("Binary: ") {
            binary = Some(b.to_owned());
        } else if let Some(p) = trimmed.strip_prefix("Path: ") {
            path = Some(p.to_owned());
        } else if let Some(m) = trimmed.strip_prefix("Method: ") {
            let function = binary.clone().expect("an event outside a function");
            routes.push((function, m.to_owned(), path.take().expect("Path before Method")));
        }
    }
    routes
}

fn concrete(path: &str) -> String {
    // The id's kind follows from the collection before it.
    let collection = path.split("/{id}").next().and_then(|p| p.rsplit('/').next()).unwrap_or("");
    let id = match collection {
        "memberships" => "msh_0000",
        "invoices" => "inv_0000",
        "payment-sources" => "src_0000",
        "agreements" if path.starts_with("/v1/admin") => "doc_0000",
        "agreements" => "agr_0000",
        _ => "mbr_0000",
    };
    path.replace("{id}", id)
}

fn unrouted(problem: &str) -> bool {
    problem == "/problems/no-route" || problem == "/problems/method-not-allowed"
}

#[tokio::test]
async fn every_function_in_the_template_is_a_route_group_and_back() {
    let functions: BTreeSet<String> = template_routes().into_iter().map(|(f, _, _)| f).collect();
    let groups: BTreeSet<String> = Group::ALL.iter().map(|g| g.name().to_owned()).collect();
    assert_eq!(functions, groups);
    for g in Group::ALL {
        assert!(root().join("functions").join(g.name()).join("src/main.rs").exists(), "functions/{} missing", g.name());
    }
}

#[tokio::test]
async fn every_template_route_is_served_by_its_functions_router_only() {
    let app = spawn_app().await;
    for (function, method, path) in template_routes() {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let body = matches!(method, Method::POST | Method::PUT | Method::PATCH).then(|| json!({}));
        for group in Group::ALL {
            let router = group_router(app.ctx.clone(), group);
            let r = send(&router, method.clone(), &concrete(&path), body.clone(), None).await;
            if group.name() == function {
                assert!(!unrouted(r.problem()), "{function} does not serve {method} {path}: {:?}", r.json);
                assert!(r.status.as_u16() < 500, "{method} {path}: {:?}", r.json);
            } else {
                assert!(unrouted(r.problem()), "{} also serves {method} {path}", group.name());
            }
        }
    }
}

#[tokio::test]
async fn the_openapi_document_lists_exactly_the_template_routes() {
    let app = spawn_app().await;
    let doc = app.get("/v1/openapi.json", None).await;
    assert_eq!(doc.status, StatusCode::OK);
    assert!(doc.json["openapi"].as_str().unwrap().starts_with("3."));
    let mut documented = BTreeSet::new();
    for (path, item) in doc.json["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let declared: BTreeSet<(String, String)> = template_routes().into_iter().map(|(_, m, p)| (m, p)).collect();
    assert_eq!(documented, declared);
}

#[tokio::test]
async fn every_event_routes_to_a_handler_that_answers_and_every_route_has_an_event() {
    let app = spawn_app().await;
    let routes = template_routes();
    let mut covered = BTreeSet::new();
    let mut files: Vec<_> = std::fs::read_dir(root().join("events")).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(!files.is_empty());
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let event: serde_json::Value = serde_json::from_str(&text).unwrap();
        if event["detail-type"] == "Scheduled Event" {
            // The scheduled reconciliation: its handler ignores the event and reconciles.
            assert!(std::fs::read_to_string(root().join("template.yaml")).unwrap().contains("Type: ScheduleV2"));
            portal::services::payments::reconcile(&app.ctx).await.expect("reconciliation runs");
            continue;
        }
        let route_key = event["routeKey"].as_str().expect("routeKey");
        let (method, path) = route_key.split_once(' ').unwrap();
        let function = routes
            .iter()
            .find(|(_, m, p)| m == method && p == path)
            .map(|(f, _, _)| f.clone())
            .unwrap_or_else(|| panic!("{}: {route_key} is not in template.yaml", file.display()));
        covered.insert(route_key.to_owned());

        let request = lambda_http::request::from_str(&text).expect("a valid API Gateway v2 event");
        let router = group_router(app.ctx.clone(), Group::from_name(&function).unwrap());
        let r = send_request(&router, request).await;
        assert!(!unrouted(r.problem()), "{}: not routed: {:?}", file.display(), r.json);
        assert!(r.status.as_u16() < 500, "{}: {} {:?}", file.display(), r.status, r.json);
        assert!(r.headers.get("x-request-id").is_some());
    }
    let declared: BTreeSet<String> = routes.iter().map(|(_, m, p)| format!("{m} {p}")).collect();
    assert_eq!(covered, declared, "every template route needs an event file");
}

#[tokio::test]
async fn unknown_routes_and_methods_get_problems() {
    let app = spawn_app().await;
    let r = app.get("/v1/nothing-here", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.problem(), "/problems/no-route");
    let r = app.request(Method::PATCH, "/v1/memberships", None, None).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.content_type(), "application/problem+json");
}
