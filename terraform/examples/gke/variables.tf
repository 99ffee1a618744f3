variable "project_id" {
  description = "Google Cloud project to create everything in."
  type        = string
}

variable "region" {
  description = "Region of the cluster and the bucket."
  type        = string
  default     = "us-central1"
}

variable "rustmq_version" {
  description = "RustMQ version (image tag) the cluster runs."
  type        = string
  default     = "0.1.0"
}

variable "image" {
  description = "Image repository with the operator, broker and controller binaries."
  type        = string
  default     = "rustmq/rustmq"
}
