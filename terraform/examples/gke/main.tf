# Everything a RustMQ cluster on GKE needs, end to end: the GKE cluster with broker and
# controller node pools, the bucket and the brokers' identity (the module), then the
# operator and a RustMQCluster installed with the Helm chart from this repository.
#
#   terraform init && terraform apply -var project_id=my-project
#   gcloud container clusters get-credentials rustmq --region us-central1
#   kubectl -n rustmq get rustmqcluster rustmq

provider "google" {
  project = var.project_id
  region  = var.region
}

module "rustmq" {
  source     = "../../modules/rustmq-gke"
  project_id = var.project_id
  region     = var.region
}

data "google_client_config" "current" {}

provider "helm" {
  kubernetes = {
    host                   = module.rustmq.cluster_endpoint
    token                  = data.google_client_config.current.access_token
    cluster_ca_certificate = base64decode(module.rustmq.cluster_ca_certificate)
  }
}

resource "helm_release" "rustmq" {
  name             = "rustmq"
  chart            = "${path.module}/../../../charts/rustmq-operator"
  namespace        = module.rustmq.kubernetes_namespace
  create_namespace = true
  # The cluster becomes Ready minutes after the release: do not hold terraform on it.
  wait = true

  values = [yamlencode({
    image = { repository = var.image, tag = var.rustmq_version }
    cluster = {
      enabled = true
      name    = module.rustmq.rustmq_cluster_name
      spec = {
        image   = var.image
        version = var.rustmq_version
        controllers = merge(
          { replicas = 3, storage = { storageClassName = "premium-rwo", size = "10Gi" } },
          module.rustmq.pod_placement.controller,
        )
        brokers = merge(
          { replicas = 3, wal = { storageClassName = "premium-rwo", size = "100Gi" } },
          module.rustmq.pod_placement.broker,
        )
        objectStorage = module.rustmq.object_storage
        brokerConfig = {
          "operations.upgrade_velocity" = "3"
        }
      }
    }
  })]
}
