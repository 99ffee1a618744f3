output "cluster_name" {
  description = "Name of the GKE cluster."
  value       = google_container_cluster.this.name
}

output "cluster_endpoint" {
  description = "Address of the Kubernetes API."
  value       = "https://${google_container_cluster.this.endpoint}"
}

output "cluster_ca_certificate" {
  description = "CA certificate of the Kubernetes API (base64 PEM)."
  value       = google_container_cluster.this.master_auth[0].cluster_ca_certificate
  sensitive   = true
}

output "bucket" {
  description = "The GCS bucket brokers tier data to."
  value       = google_storage_bucket.data.name
}

output "broker_service_account" {
  description = "Google service account of the brokers (spec.objectStorage.gcs.googleServiceAccount)."
  value       = google_service_account.brokers.email
}

output "object_storage" {
  description = "The RustMQCluster's spec.objectStorage, ready to use."
  value = {
    gcs = {
      bucket               = google_storage_bucket.data.name
      prefix               = var.bucket_prefix
      googleServiceAccount = google_service_account.brokers.email
    }
  }
}

output "pod_placement" {
  description = "nodeSelector and tolerations of spec.brokers and spec.controllers that put each on its node pool."
  value = {
    broker = {
      nodeSelector = { "rustmq.io/role" = "broker" }
      tolerations  = [{ key = "rustmq.io/role", operator = "Equal", value = "broker", effect = "NoSchedule" }]
    }
    controller = {
      nodeSelector = { "rustmq.io/role" = "controller" }
      tolerations  = [{ key = "rustmq.io/role", operator = "Equal", value = "controller", effect = "NoSchedule" }]
    }
  }
}

output "kubernetes_namespace" {
  description = "Namespace the Workload Identity binding expects the RustMQCluster in."
  value       = var.kubernetes_namespace
}

output "rustmq_cluster_name" {
  description = "Name the Workload Identity binding expects the RustMQCluster to have."
  value       = var.rustmq_cluster_name
}
