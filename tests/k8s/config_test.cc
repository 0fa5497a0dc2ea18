// In-cluster and kubeconfig configuration, and the token re-read.
#include <gtest/gtest.h>

#include "absl/strings/escaping.h"
#include "taogate/k8s/config.h"
#include "taogate/k8s/token.h"
#include "testing/testing.h"

namespace taogate::k8s {
namespace {

using taogate::testing::TempDir;
using taogate::testing::WriteFile;

class K8sConfigTest : public ::testing::Test {
 protected:
  std::string Path(const std::string& name) const { return (dir_.path() / name).string(); }
  std::string Kubeconfig(const std::string& cluster, const std::string& user,
                         const std::string& current = "dev") {
    std::string text =
        "apiVersion: v1\nkind: Config\ncurrent-context: " + current + "\n"
        "clusters:\n- name: c1\n  cluster:\n" + cluster +
        "users:\n- name: u1\n  user:\n" + user +
        "contexts:\n- name: dev\n  context: {cluster: c1, user: u1}\n";
    WriteFile(Path("kubeconfig"), text);
    return Path("kubeconfig");
  }
  TempDir dir_;
};

TEST_F(K8sConfigTest, InClusterFromInjectedPaths) {
  WriteFile(Path("token"), "t\n");
  WriteFile(Path("ca.crt"), "x");
  InClusterPaths p{Path("token"), Path("ca.crt"), "10.96.0.1", "443"};
  auto c = InClusterConfig(p);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->server, "https://10.96.0.1:443");
  EXPECT_EQ(c->token_file, Path("token"));
  p.host = "fd00::1";
  EXPECT_EQ(InClusterConfig(p)->server, "https://[fd00::1]:443");
}

TEST_F(K8sConfigTest, NotInClusterIsFailedPrecondition) {
  InClusterPaths p{Path("token"), Path("ca.crt"), "10.96.0.1", "443"};
  EXPECT_EQ(InClusterConfig(p).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(K8sConfigTest, KubeconfigWithInlineData) {
  std::string ca = absl::Base64Escape("CA PEM"), cert = absl::Base64Escape("CERT"),
              key = absl::Base64Escape("KEY");
  auto c = KubeconfigConfig(Kubeconfig(
      "    server: https://api.example:6443/\n    certificate-authority-data: " + ca + "\n",
      "    client-certificate-data: " + cert + "\n    client-key-data: " + key + "\n"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->server, "https://api.example:6443");
  EXPECT_EQ(c->ca_pem, "CA PEM");
  EXPECT_EQ(c->client_cert_pem, "CERT");
  EXPECT_EQ(c->client_key_pem, "KEY");
}

TEST_F(K8sConfigTest, KubeconfigRelativeFilesAndToken) {
  auto c = KubeconfigConfig(Kubeconfig(
      "    server: https://127.0.0.1:6443\n    certificate-authority: pki/ca.crt\n",
      "    token: abc\n"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->ca_file, Path("pki/ca.crt"));
  EXPECT_EQ(c->token, "abc");
}

TEST_F(K8sConfigTest, KubeconfigRefusals) {
  const std::string ca = "    certificate-authority: ca.crt\n";
  EXPECT_EQ(KubeconfigConfig(Kubeconfig("    server: https://a:1\n    insecure-skip-tls-verify: true\n" + ca, "    token: t\n")).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(KubeconfigConfig(Kubeconfig("    server: http://a:1\n" + ca, "    token: t\n")).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(KubeconfigConfig(Kubeconfig("    server: https://a:1\n", "    token: t\n")).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(KubeconfigConfig(Kubeconfig("    server: https://a:1\n" + ca, "    exec: {command: x}\n")).status().code(),
            absl::StatusCode::kUnimplemented);
  EXPECT_EQ(KubeconfigConfig(Kubeconfig("    server: https://a:1\n" + ca, "    token: t\n", "nope")).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(KubeconfigConfig(Kubeconfig("    server: [1, 2]\n" + ca, "    token: t\n")).status().code(),
            absl::StatusCode::kInvalidArgument);
  WriteFile(Path("bad"), "clusters: [\n");
  EXPECT_EQ(KubeconfigConfig(Path("bad")).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(KubeconfigConfig(Path("missing")).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(K8sConfigTest, TokenIsRereadAfterInvalidateAndKeptIfFileVanishes) {
  WriteFile(Path("token"), "one\n");
  TokenSource t(Path("token"), "", absl::Hours(1));
  EXPECT_EQ(*t.Get(), "one");
  WriteFile(Path("token"), "two\n");
  EXPECT_EQ(*t.Get(), "one");  // within the period
  t.Invalidate();
  EXPECT_EQ(*t.Get(), "two");
  std::filesystem::remove(Path("token"));
  t.Invalidate();
  EXPECT_EQ(*t.Get(), "two");
  EXPECT_FALSE(TokenSource(Path("token"), "", absl::Hours(1)).Get().ok());
}

TEST_F(K8sConfigTest, TokenIsRereadAfterPeriod) {
  WriteFile(Path("token"), "one");
  TokenSource t(Path("token"), "", absl::ZeroDuration());
  EXPECT_EQ(*t.Get(), "one");
  WriteFile(Path("token"), "two");
  EXPECT_EQ(*t.Get(), "two");
  EXPECT_EQ(t.reads(), 2);
}

}  // namespace
}  // namespace taogate::k8s
