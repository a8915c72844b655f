use super::*;
use crate::record::Status;

/// A provisioning body exactly as stint wrote it before schema numbers (schema 1).
const V1_PIPELINE: &str = r#"{"id":"019ade5c-7a80-7000-8000-000000000001","kind":"provision","state":"provisioned","version":4,"account_id":"222222222222","account_name":"workload-nonprod","group_type":"Product-Deployers","requester":"alice@example.com","branch":"main","role_name":"stint-019ade5c-7a80-7000-8000-000000000001","role_arn":"arn:aws:iam::222222222222:role/stint/stint-019ade5c-7a80-7000-8000-000000000001","ttl_seconds":86400,"created_at":"2026-11-30T10:00:00Z","updated_at":"2026-11-30T10:00:01Z","expires_at":"2026-12-01T10:00:00Z","original_transaction_id":null,"deprovisioning_transaction_id":null,"failure":null,"caller":{"sub":"repo:acme/infra:ref:refs/heads/main","actor":"alice","actor_id":"1001","repository":"acme/infra","repository_id":"500","repository_owner":"acme","repository_owner_id":"900","ref":"refs/heads/main","ref_protected":"true","sha":"abc","event_name":"push","environment":null,"workflow":"deploy","job_workflow_ref":"acme/infra/.github/workflows/deploy.yml@refs/heads/main","run_id":"42","run_attempt":"1"}}"#;

/// A deprovisioning record an operator caused, schema 1, failed.
const V1_RECORD: &str = r#"{"id":"019ade5c-7a80-7000-8000-000000000002","kind":"deprovision","state":"failed","version":2,"account_id":"222222222222","account_name":"workload-nonprod","group_type":"Product-Deployers","requester":"alice@example.com","branch":"main","role_name":"stint-019ade5c-7a80-7000-8000-000000000001","role_arn":null,"ttl_seconds":86400,"created_at":"2026-11-30T11:00:00Z","updated_at":"2026-11-30T11:00:02Z","expires_at":null,"original_transaction_id":"019ade5c-7a80-7000-8000-000000000001","deprovisioning_transaction_id":null,"failure":{"code":"aws_error","message":"deleting role: throttled"}}"#;

fn stored(kind: &'static str, status: Status, body: &str) -> StoredRecord {
    let at = time::macros::datetime!(2026-11-30 10:00:01 UTC);
    StoredRecord {
        id: TransactionId::parse("019ade5c-7a80-7000-8000-000000000001").unwrap(),
        kind,
        status,
        version: 4,
        expires_at: None,
        updated_at: at,
        body: body.to_owned(),
    }
}

#[test]
fn schema_1_bodies_are_read_and_upgraded() {
    let grant = decode(&stored("provision", State::Provisioned.into(), V1_PIPELINE)).unwrap();
    assert_eq!(grant.kind, Kind::Provision);
    assert_eq!((grant.state, grant.version), (State::Provisioned, 4));
    assert_eq!(grant.terms.subject.requester.as_str(), "alice@example.com");
    let claims = grant.terms.subject.pipeline().unwrap();
    assert_eq!(
        (claims.repository_id.as_str(), claims.run_id.as_str()),
        ("500", "42")
    );
    assert_eq!(grant.terms.target.account_id.as_str(), "222222222222");
    assert_eq!(grant.terms.target.persona.as_str(), "Product-Deployers");
    assert_eq!(
        grant.role_arn(),
        Some("arn:aws:iam::222222222222:role/stint/stint-019ade5c-7a80-7000-8000-000000000001")
    );
    assert_eq!(grant.terms.ttl_seconds, 86400);
    assert_eq!(
        grant.expires_at,
        Some(time::macros::datetime!(2026-12-01 10:00:00 UTC))
    );

    let record = decode(&stored("deprovision", State::Failed.into(), V1_RECORD)).unwrap();
    assert_eq!(record.terms.subject.origin, Origin::Operator);
    assert_eq!(
        record.links.original.as_ref().map(TransactionId::as_str),
        Some("019ade5c-7a80-7000-8000-000000000001")
    );
    assert_eq!(record.failure.unwrap().code, "aws_error");
}

#[test]
fn an_upgraded_grant_is_written_as_schema_2_and_reads_back_the_same() {
    let grant = decode(&stored("provision", State::Provisioned.into(), V1_PIPELINE)).unwrap();
    let written = encode(&grant);
    assert!(
        written.body.starts_with("{\"schema\":2,"),
        "{}",
        written.body
    );
    assert_eq!(
        (written.kind, written.status, written.version),
        ("provision", Status::Grant(State::Provisioned), 4)
    );
    assert_eq!(written.expires_at, grant.expires_at);
    assert_eq!(decode(&written).unwrap(), grant);
}

#[test]
fn unknown_schemas_and_other_kinds_are_refused_by_name() {
    let future = stored("provision", State::Provisioned.into(), r#"{"schema":9}"#);
    assert!(matches!(
        decode(&future),
        Err(StoredError::UnknownSchema { schema: 9, .. })
    ));
    let request = stored(
        "request",
        Status::Request(crate::record::RequestState::Requested),
        "{}",
    );
    assert!(matches!(
        decode(&request),
        Err(StoredError::NotAGrant { .. })
    ));
    let garbage = stored("provision", State::Provisioned.into(), "not json");
    assert!(matches!(
        decode(&garbage),
        Err(StoredError::Unreadable { .. })
    ));
}
