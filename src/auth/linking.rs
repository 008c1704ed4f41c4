//! The linking rules, as one pure function: given what is known about an identity that a
//! provider just proved, whose user may it sign in as, or must it be refused? Every rule is
//! here, with the attack it stops, so it can be read and tested on its own.

use crate::config::SignupPolicy;
use crate::domain::Role;

/// The user who already holds the identity's e-mail address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct EmailOwner {
    pub user_id: String,
    pub email_verified: bool,
    /// The providers the owner can sign in with, sorted.
    pub providers: Vec<String>,
}

/// What is known when the decision is made.
#[derive(Clone, Debug)]
pub(crate) struct Facts {
    /// The identity exists and is linked to this (live) user.
    pub linked_user: Option<String>,
    /// The provider proved the person controls the e-mail (google's `email_verified`).
    pub provider_verified_email: bool,
    /// The live user whose e-mail equals the identity's, if any.
    pub email_owner: Option<EmailOwner>,
    pub policy: SignupPolicy,
    /// A valid invite being accepted, with the live user (if any) already holding its e-mail.
    pub invite: Option<InviteFacts>,
    /// The identity is new and should carry a secret (a password), but the provider set
    /// none: told that [`may_sign_up`] said no, it spent the time of a check instead.
    pub secret_withheld: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct InviteFacts {
    pub role: Role,
    pub email_taken: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    SignIn {
        user_id: String,
    },
    CreateUser {
        role: Role,
        email_verified: bool,
        from_invite: bool,
    },
    /// Link the new identity to an existing user. `drop_unverified_passwords`: the user never
    /// proved the address, so whoever set its password may not be its owner: that identity
    /// and its sessions go first (pre-account takeover).
    Link {
        user_id: String,
        drop_unverified_passwords: bool,
    },
    Refuse(Refusal),
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refusal {
    #[error("Sign-up is closed")]
    SignupClosed,
    #[error("Sign-up is by invitation only")]
    InviteOnly,
    #[error("An account with this email already exists. Sign in with: {}", .0.join(", "))]
    AccountExists(Vec<String>),
    #[error("Invite is invalid or has expired")]
    InviteInvalid,
    #[error("This sign-in already belongs to an account")]
    IdentityTaken,
}

/// Whether the sign-up policy could let a new identity in: providers are told before they
/// look, so that one which would be refused anyway hashes no new secret.
pub(crate) fn may_sign_up(policy: SignupPolicy, with_invite: bool) -> bool {
    match policy {
        SignupPolicy::Open => true,
        SignupPolicy::Invite => with_invite,
        SignupPolicy::Closed => false,
    }
}

pub(crate) fn decide(f: &Facts) -> Decision {
    match decide_ignoring_secret(f) {
        // Never create an identity nobody can prove.
        Decision::CreateUser { .. } if f.secret_withheld => {
            Decision::Refuse(if f.policy == SignupPolicy::Closed { Refusal::SignupClosed } else { Refusal::InviteOnly })
        }
        decision => decision,
    }
}

fn decide_ignoring_secret(f: &Facts) -> Decision {
    if let Some(user_id) = &f.linked_user {
        // An invite is for a new person; an identity that already has an account cannot
        // use it to become someone else.
        if f.invite.is_some() {
            return Decision::Refuse(Refusal::IdentityTaken);
        }
        return Decision::SignIn { user_id: user_id.clone() };
    }
    if f.policy == SignupPolicy::Closed {
        return Decision::Refuse(Refusal::SignupClosed);
    }
    if let Some(invite) = &f.invite {
        if invite.email_taken {
            return Decision::Refuse(Refusal::InviteInvalid);
        }
        // Whoever holds the invite token received it at the invited address.
        return Decision::CreateUser { role: invite.role, email_verified: true, from_invite: true };
    }
    match &f.email_owner {
        Some(owner) if f.provider_verified_email => {
            Decision::Link { user_id: owner.user_id.clone(), drop_unverified_passwords: !owner.email_verified }
        }
        // Never link on an unproven address: that would hand the account to anyone who
        // types its e-mail.
        Some(owner) => Decision::Refuse(Refusal::AccountExists(owner.providers.clone())),
        None if f.policy == SignupPolicy::Invite => Decision::Refuse(Refusal::InviteOnly),
        None => {
            Decision::CreateUser { role: Role::Member, email_verified: f.provider_verified_email, from_invite: false }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts {
        Facts {
            linked_user: None,
            provider_verified_email: false,
            email_owner: None,
            policy: SignupPolicy::Open,
            invite: None,
            secret_withheld: false,
        }
    }

    fn owner(verified: bool, providers: &[&str]) -> Option<EmailOwner> {
        Some(EmailOwner {
            user_id: "u1".into(),
            email_verified: verified,
            providers: providers.iter().map(|p| p.to_string()).collect(),
        })
    }

    #[test]
    fn linked_identity_signs_in_as_its_user_under_every_policy() {
        for policy in [SignupPolicy::Open, SignupPolicy::Invite, SignupPolicy::Closed] {
            let f = Facts { linked_user: Some("u9".into()), policy, ..facts() };
            assert_eq!(decide(&f), Decision::SignIn { user_id: "u9".into() });
        }
    }

    #[test]
    fn new_email_gets_a_new_member() {
        assert_eq!(
            decide(&facts()),
            Decision::CreateUser { role: Role::Member, email_verified: false, from_invite: false }
        );
        let f = Facts { provider_verified_email: true, ..facts() };
        assert_eq!(decide(&f), Decision::CreateUser { role: Role::Member, email_verified: true, from_invite: false });
    }

    #[test]
    fn emailpass_signup_with_a_google_users_email_is_refused_not_linked() {
        // The attack: someone types the victim's address and a password of their own.
        let f = Facts { email_owner: owner(true, &["google"]), ..facts() };
        assert_eq!(decide(&f), Decision::Refuse(Refusal::AccountExists(vec!["google".into()])));
        assert_eq!(
            Refusal::AccountExists(vec!["google".into()]).to_string(),
            "An account with this email already exists. Sign in with: google"
        );
    }

    #[test]
    fn unverified_identity_never_links_even_to_an_unverified_user() {
        let f = Facts { email_owner: owner(false, &["emailpass"]), ..facts() };
        assert!(matches!(decide(&f), Decision::Refuse(Refusal::AccountExists(_))));
    }

    #[test]
    fn verified_provider_links_and_drops_passwords_nobody_proved() {
        let f = Facts { provider_verified_email: true, email_owner: owner(false, &["emailpass"]), ..facts() };
        assert_eq!(decide(&f), Decision::Link { user_id: "u1".into(), drop_unverified_passwords: true });
        let f = Facts { provider_verified_email: true, email_owner: owner(true, &["emailpass"]), ..facts() };
        assert_eq!(decide(&f), Decision::Link { user_id: "u1".into(), drop_unverified_passwords: false });
    }

    #[test]
    fn policies_refuse_new_people_plainly() {
        let f = Facts { policy: SignupPolicy::Invite, ..facts() };
        assert_eq!(decide(&f), Decision::Refuse(Refusal::InviteOnly));
        let f = Facts { policy: SignupPolicy::Closed, provider_verified_email: true, ..facts() };
        assert_eq!(decide(&f), Decision::Refuse(Refusal::SignupClosed));
        // Closed means closed: not even an invite.
        let f = Facts {
            policy: SignupPolicy::Closed,
            invite: Some(InviteFacts { role: Role::Admin, email_taken: false }),
            ..facts()
        };
        assert_eq!(decide(&f), Decision::Refuse(Refusal::SignupClosed));
    }

    #[test]
    fn invite_creates_a_verified_user_with_its_role_under_invite_policy() {
        let f = Facts {
            policy: SignupPolicy::Invite,
            invite: Some(InviteFacts { role: Role::Admin, email_taken: false }),
            ..facts()
        };
        assert_eq!(decide(&f), Decision::CreateUser { role: Role::Admin, email_verified: true, from_invite: true });
    }

    #[test]
    fn invite_for_a_taken_email_or_by_an_existing_identity_is_refused() {
        let f = Facts { invite: Some(InviteFacts { role: Role::Member, email_taken: true }), ..facts() };
        assert_eq!(decide(&f), Decision::Refuse(Refusal::InviteInvalid));
        let f = Facts {
            linked_user: Some("u2".into()),
            invite: Some(InviteFacts { role: Role::Admin, email_taken: false }),
            ..facts()
        };
        assert_eq!(decide(&f), Decision::Refuse(Refusal::IdentityTaken));
    }

    #[test]
    fn verified_provider_under_invite_policy_may_still_link_to_an_existing_user() {
        // Linking is not sign-up: the person already has an account.
        let f = Facts {
            policy: SignupPolicy::Invite,
            provider_verified_email: true,
            email_owner: owner(true, &["emailpass"]),
            ..facts()
        };
        assert!(matches!(decide(&f), Decision::Link { .. }));
    }

    #[test]
    fn a_new_identity_without_its_secret_is_never_created() {
        let f = Facts { secret_withheld: true, ..facts() };
        assert_eq!(decide(&f), Decision::Refuse(Refusal::InviteOnly));
        let f = Facts {
            secret_withheld: true,
            invite: Some(InviteFacts { role: Role::Member, email_taken: false }),
            ..facts()
        };
        assert_eq!(decide(&f), Decision::Refuse(Refusal::InviteOnly));
    }

    #[test]
    fn the_policy_says_who_may_sign_up() {
        assert!(may_sign_up(SignupPolicy::Open, false));
        assert!(!may_sign_up(SignupPolicy::Invite, false) && may_sign_up(SignupPolicy::Invite, true));
        assert!(!may_sign_up(SignupPolicy::Closed, true));
    }
}
