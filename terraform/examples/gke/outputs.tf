output "bucket" {
  description = "The bucket the brokers tier data to."
  value       = module.rustmq.bucket
}

output "get_credentials" {
  description = "The command that points kubectl at the new cluster."
  value       = "gcloud container clusters get-credentials ${module.rustmq.cluster_name} --region ${var.region} --project ${var.project_id}"
}
