//! The providers this server offers, built from the configuration. Adding a provider is
//! one module and one line in [`Registry::from_config`].

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::auth::emailpass::EmailPass;
use crate::auth::flow::Flows;
use crate::auth::github::Github;
use crate::auth::oidc::Oidc;
use crate::auth::passkey::{PasskeyProvider, RelyingParty};
use crate::auth::provider::Provider;
use crate::auth::{Hasher, Throttle};
use crate::config::Config;
use crate::db::Db;

#[derive(Clone, Default)]
pub struct Registry {
    providers: BTreeMap<String, Arc<dyn Provider>>,
}

impl Registry {
    /// `http` is the client for calls to identity providers ([`crate::auth::outbound`]);
    /// `passkeys` the relying party, when passkeys are on.
    pub fn from_config(
        config: &Config,
        db: &Db,
        hasher: &Hasher,
        throttle: &Throttle,
        http: &reqwest::Client,
        passkeys: Option<&RelyingParty>,
    ) -> Registry {
        let mut r = Registry::default();
        // One store for every provider whose flow spans requests (redirects, passkey challenges):
        // the per-address bound counts them together.
        let flows = Flows::new(db.clone(), config.flow_max_per_address);
        r.add(EmailPass::new(db.clone(), hasher.clone(), throttle.clone()));
        if let Some(google) = &config.google {
            r.add(Oidc::google(db.clone(), flows.clone(), google.clone(), http.clone()));
        }
        for named in &config.oidc {
            r.add(Oidc::named(&named.name, db.clone(), flows.clone(), named.config.clone(), http.clone()));
        }
        if let Some(github) = &config.github {
            r.add(Github::new(db.clone(), flows.clone(), github.clone(), http.clone()));
        }
        if let Some(rp) = passkeys {
            r.add(PasskeyProvider::new(db.clone(), flows.clone(), rp.clone()));
        }
        r
    }

    pub fn add(&mut self, provider: impl Provider + 'static) {
        self.providers.insert(provider.name().to_string(), Arc::new(provider));
    }

    pub fn get(&self, name: &str) -> Option<Arc<dyn Provider>> {
        self.providers.get(name).cloned()
    }

    /// Registered names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.providers.keys().cloned().collect()
    }
}
