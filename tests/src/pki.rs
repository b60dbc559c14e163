//! Certificates for a test control plane: a CA, the API server's serving certificate (for
//! 127.0.0.1, localhost and any names a real node needs), an admin client certificate in `system:masters`, and the service
//! account signing key. The same set controller-runtime's envtest generates.

use std::path::{Path, PathBuf};

use anyhow::Result;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};

/// PEM files written for one control plane.
pub struct Pki {
    pub ca_cert: PathBuf,
    pub serving_cert: PathBuf,
    pub serving_key: PathBuf,
    /// Signs service account tokens (`--service-account-signing-key-file`).
    pub service_account_key: PathBuf,
    /// Verifies them (`--service-account-key-file`).
    pub service_account_public_key: PathBuf,
    /// The admin client credentials, as PEM text for the kubeconfig.
    pub ca_pem: String,
    pub admin_cert_pem: String,
    pub admin_key_pem: String,
}

impl Pki {
    /// Generates everything and writes the files the API server reads into `dir`.
    pub fn generate(dir: &Path) -> Result<Self> {
        Self::generate_with_names(dir, &[])
    }

    /// As [`Pki::generate`], with more names (DNS names or IP addresses) on the serving
    /// certificate: a real node's pods reach the API server through the `kubernetes` Service.
    pub fn generate_with_names(dir: &Path, extra_names: &[String]) -> Result<Self> {
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.distinguished_name.push(DnType::CommonName, "wardwatch-testbed-ca");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let ca = Issuer::new(ca_params, ca_key);

        let serving_key = KeyPair::generate()?;
        let mut names = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
        names.extend(extra_names.iter().cloned());
        let mut serving = CertificateParams::new(names)?;
        serving.distinguished_name.push(DnType::CommonName, "kube-apiserver");
        serving.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let serving_cert = serving.signed_by(&serving_key, &ca)?;

        let admin_key = KeyPair::generate()?;
        let mut admin = CertificateParams::new(Vec::<String>::new())?;
        admin.distinguished_name.push(DnType::CommonName, "wardwatch-testbed-admin");
        admin.distinguished_name.push(DnType::OrganizationName, "system:masters");
        admin.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let admin_cert = admin.signed_by(&admin_key, &ca)?;

        let service_account_key = KeyPair::generate()?;

        let write = |name: &str, pem: String| -> Result<PathBuf> {
            let path = dir.join(name);
            std::fs::write(&path, pem)?;
            Ok(path)
        };
        Ok(Self {
            ca_cert: write("ca.crt", ca_cert.pem())?,
            serving_cert: write("apiserver.crt", serving_cert.pem())?,
            serving_key: write("apiserver.key", serving_key.serialize_pem())?,
            service_account_key: write("sa.key", service_account_key.serialize_pem())?,
            service_account_public_key: write("sa.pub", service_account_key.public_key_pem())?,
            ca_pem: ca_cert.pem(),
            admin_cert_pem: admin_cert.pem(),
            admin_key_pem: admin_key.serialize_pem(),
        })
    }
}
