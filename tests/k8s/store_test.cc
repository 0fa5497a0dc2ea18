// The store's diff on relist, the node filter, and all-or-nothing batches.
#include <gtest/gtest.h>

#include "apiserver_harness.h"
#include "taogate/k8s/store.h"

namespace taogate::k8s {
namespace {

using nlohmann::json;
using testing::FixturePod;

class Recorder : public StoreListener {
 public:
  void OnPodAdded(const Pod& p) override { log.push_back("add " + p.uid); }
  void OnPodUpdated(const Pod&, const Pod& p) override { log.push_back("update " + p.uid); }
  void OnPodDeleted(const Pod& p) override { log.push_back("delete " + p.uid); }
  void OnSynced(Resource) override { log.push_back("synced"); }
  std::vector<std::string> log;
};

class K8sStoreTest : public ::testing::Test {
 protected:
  json Pod(const std::string& uid, const std::string& node = "node-a") {
    return FixturePod("pod_burstable.json", uid, "p-" + uid, node);
  }
  Recorder rec_;
  Store store_{"node-a", &rec_};
};

TEST_F(K8sStoreTest, RelistDeletesVanishedAndAddsNew) {
  ASSERT_TRUE(store_.pods_sink().Replace(json::array({Pod("a"), Pod("b")})).ok());
  json b = Pod("b");
  b["metadata"]["labels"]["v"] = "2";
  ASSERT_TRUE(store_.pods_sink().Replace(json::array({b, Pod("c")})).ok());
  EXPECT_EQ(rec_.log, (std::vector<std::string>{"add a", "add b", "synced", "delete a",
                                                "update b", "add c", "synced"}));
}

TEST_F(K8sStoreTest, OtherNodesPodsAreNeverStored) {
  ASSERT_TRUE(store_.pods_sink().Replace(json::array({Pod("a"), Pod("x", "node-b")})).ok());
  ASSERT_TRUE(store_.pods_sink().Apply(EventType::kAdded, Pod("y", "node-b")).ok());
  EXPECT_EQ(store_.Pods().size(), 1u);
  ASSERT_TRUE(store_.pods_sink().Apply(EventType::kModified, Pod("a", "node-b")).ok());
  EXPECT_TRUE(store_.Pods().empty());
}

TEST_F(K8sStoreTest, BadItemChangesNothing) {
  ASSERT_TRUE(store_.pods_sink().Replace(json::array({Pod("a")})).ok());
  json bad = Pod("b");
  bad["metadata"]["labels"] = 3;
  EXPECT_FALSE(store_.pods_sink().Replace(json::array({Pod("c"), bad})).ok());
  EXPECT_FALSE(store_.pods_sink().Replace(json::object()).ok());
  EXPECT_FALSE(store_.pods_sink().Apply(EventType::kAdded, bad).ok());
  ASSERT_EQ(store_.Pods().size(), 1u);
  EXPECT_EQ(store_.Pods()[0].uid, "a");
}

TEST_F(K8sStoreTest, UnchangedObjectIsNoUpdate) {
  ASSERT_TRUE(store_.pods_sink().Apply(EventType::kAdded, Pod("a")).ok());
  ASSERT_TRUE(store_.pods_sink().Apply(EventType::kModified, Pod("a")).ok());
  ASSERT_TRUE(store_.pods_sink().Apply(EventType::kDeleted, Pod("a")).ok());
  EXPECT_EQ(rec_.log, (std::vector<std::string>{"add a", "delete a"}));
}

}  // namespace
}  // namespace taogate::k8s
