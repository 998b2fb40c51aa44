// Membership from a Service's EndpointSlices, through a fake Kubernetes API on loopback.
#include "scaler/cluster/membership.h"

#include <gtest/gtest.h>

#include <thread>

#include "scaler/sources/discovery/discovery_registry.h"
#include "tests/fakes/eventually.h"
#include "tests/fakes/fake_kube_api.h"

namespace nimscaler::cluster {
namespace {

using namespace std::chrono_literals;

using testing::Eventually;

TEST(Membership, ReadyReplicasOfThePeersServiceAreThePeers) {
  testing::FakeKubeApi api("nim-system", "nim-scaler-peers");
  std::shared_ptr<net::HttpClient> http = net::MakeCurlHttpClient();
  sources::DiscoveryRegistry registry(sources::KubeApiConfig{api.url(), "", ""}, http);
  SystemClock clock;
  Membership m("10.0.0.1:9090", registry.WatchFor("nim-system", "nim-scaler-peers"), "grpc", 9090, &clock);
  // Before the first list: alone, and owner of everything.
  EXPECT_EQ(m.Peers(), std::vector<std::string>{"10.0.0.1:9090"});
  api.SetPod("a", "10.0.0.1", 9090, true);
  api.SetPod("b", "10.0.0.2", 9090, true);
  api.SetPod("c", "10.0.0.3", 9090, false);  // not ready: not a peer
  std::vector<std::string> two = {"10.0.0.1:9090", "10.0.0.2:9090"};
  ASSERT_TRUE(Eventually([&] { return m.Peers() == two; }, 3s));
  EXPECT_TRUE(m.Known());
  EXPECT_TRUE(Membership("10.0.0.9:9090", std::vector<std::string>{}).Known()) << "a fixed list is known";
  api.SetPod("c", "10.0.0.3", 9090, true);
  std::vector<std::string> three = {"10.0.0.1:9090", "10.0.0.2:9090", "10.0.0.3:9090"};
  ASSERT_TRUE(Eventually([&] { return m.Peers() == three; }, 3s));
  api.SetPod("b", "10.0.0.2", 9090, false, /*terminating=*/true);
  std::vector<std::string> ac = {"10.0.0.1:9090", "10.0.0.3:9090"};
  ASSERT_TRUE(Eventually([&] { return m.Peers() == ac; }, 3s));
  // Every replica with the same list computes the same owners.
  Membership other("10.0.0.3:9090", ac);
  EXPECT_EQ(m.OwnersOf("ns/so/1").owner, other.OwnersOf("ns/so/1").owner);
}

// Issue 12: a replica can tell "alone" from "not listed yet" (an API server it cannot reach).
TEST(Membership, UnknownUntilListed) {
  std::shared_ptr<net::HttpClient> http = net::MakeCurlHttpClient();
  sources::DiscoveryRegistry registry(sources::KubeApiConfig{"http://127.0.0.1:1", "", ""}, http);
  SystemClock clock;
  Membership m("10.0.0.1:9090", registry.WatchFor("nim-system", "nim-scaler-peers"), "grpc", 9090, &clock);
  EXPECT_EQ(m.Peers(), std::vector<std::string>{"10.0.0.1:9090"});
  EXPECT_FALSE(m.Known());
  registry.StopAll();
}

}  // namespace
}  // namespace nimscaler::cluster
