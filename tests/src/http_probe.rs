//! Plain HTTP readiness and API calls against the loopback services of the test bed.

use std::time::Duration;

/// A client for loopback services: short timeouts, no proxy (a proxy from the environment must
/// never see test traffic).
pub fn loopback_client() -> reqwest::Client {
    install_crypto_provider();
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("a plain reqwest client always builds")
}

/// Whether `url` answers 200.
pub async fn answers_ok(client: &reqwest::Client, url: &str) -> bool {
    matches!(client.get(url).send().await, Ok(response) if response.status().is_success())
}

/// Selects ring as rustls' process-wide provider, the one kube's client uses too; reqwest is
/// built without a provider of its own so the two never disagree. Idempotent.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
