//! The security log (policy 9) names the person of every event that has one: an account
//! linked, a token refreshed or refused, a revocation, the person's and the operator's
//! exports. After an erasure only anonymous events remain, one of them the operator's.

use autopost::crypto::Secret;
use autopost::domain::{OAuthProvider, Provider};
use autopost::operator::{OperatorError, PersonRef};
use autopost::store::AuditKind;
use autopost::tokens::RefreshOutcome;
use autopost_sim::World;
use autopost_sim::x::SimXUser;
use chrono::{Duration, Utc};

#[tokio::test]
async fn every_event_about_a_persons_grant_names_them_until_they_are_erased() {
    let world = World::builder().x().open().await.unwrap();
    let app = world.app();
    let actor = world.actor("telegram:-9", "telegram:1").await.unwrap();
    let alice: PersonRef = "telegram:1".parse().unwrap();
    let seeded = world
        .seed_x_account(
            &actor,
            &SimXUser::new("2244994945", "alice"),
            Some(Utc::now() + Duration::minutes(5)),
        )
        .await
        .unwrap();
    let keeper = app.tokens();
    assert_eq!(
        keeper
            .refresh_grant(seeded.grant, OAuthProvider::X, Utc::now())
            .await
            .unwrap(),
        RefreshOutcome::Refreshed
    );
    // Spend the new refresh token behind autopost's back: the next refresh is refused.
    let store = world.store().await.unwrap();
    let refresh = store
        .grant_tokens(seeded.grant)
        .await
        .unwrap()
        .refresh_token
        .unwrap();
    let x = app.platforms().for_provider(Provider::X).unwrap();
    x.refresh(&Secret::new(refresh.expose())).await.unwrap();
    assert_eq!(
        keeper
            .refresh_grant(
                seeded.grant,
                OAuthProvider::X,
                Utc::now() + Duration::hours(3)
            )
            .await
            .unwrap(),
        RefreshOutcome::NeedsReconnect
    );
    app.disconnect_account(&actor, seeded.account, Utc::now())
        .await
        .unwrap();
    app.export_user(actor.user, Utc::now()).await.unwrap();
    app.operator_export_json(&alice, Utc::now()).await.unwrap();

    let log = app.security_log(Some(&alice), None).await.unwrap();
    let kinds: Vec<AuditKind> = log.iter().map(|e| e.kind).collect();
    for kind in [
        AuditKind::AccountLinked,
        AuditKind::TokenRefreshed,
        AuditKind::RefreshFailed,
        AuditKind::DataExported,
        AuditKind::OperatorExport,
    ] {
        assert!(kinds.contains(&kind), "{kind:?} missing from {kinds:?}");
    }
    assert!(
        kinds.contains(&AuditKind::TokenRevoked) || kinds.contains(&AuditKind::RevokeFailed),
        "the revocation at disconnect: {kinds:?}"
    );
    assert!(log.iter().all(|e| e.user.as_deref() == Some("telegram:1")));
    let linked = log
        .iter()
        .find(|e| e.kind == AuditKind::AccountLinked)
        .unwrap();
    assert_eq!(linked.account.as_deref(), Some("@alice"));
    // Nothing about a grant is left anonymous in the whole log.
    let everything = app.security_log(None, None).await.unwrap();
    assert!(
        everything
            .iter()
            .filter(|e| matches!(
                e.kind,
                AuditKind::TokenRefreshed | AuditKind::RefreshFailed | AuditKind::TokenRevoked
            ))
            .all(|e| e.user.is_some()),
        "{everything:?}"
    );
    let later = Utc::now() + Duration::days(1);
    assert!(
        app.security_log(None, Some(later))
            .await
            .unwrap()
            .is_empty()
    );
    let earlier = Utc::now() - Duration::days(1);
    assert_eq!(
        app.security_log(None, Some(earlier)).await.unwrap().len(),
        everything.len()
    );

    let erasure = app.operator_erase(&alice, Utc::now()).await.unwrap();
    assert_eq!(erasure.files_removed, 0);
    let after = app.security_log(None, None).await.unwrap();
    assert!(
        after
            .iter()
            .all(|e| e.user.is_none() && e.account.is_none()),
        "{after:?}"
    );
    assert!(
        after.iter().all(|e| !e.detail.contains("alice")),
        "{after:?}"
    );
    let kinds: Vec<AuditKind> = after.iter().map(|e| e.kind).collect();
    assert!(kinds.contains(&AuditKind::UserDeleted), "{kinds:?}");
    assert!(kinds.contains(&AuditKind::OperatorErasure), "{kinds:?}");
    let err = app.security_log(Some(&alice), None).await.unwrap_err();
    assert!(matches!(err, OperatorError::UnknownPerson { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "autopost knows no person telegram:1; check the platform and the id"
    );
}
