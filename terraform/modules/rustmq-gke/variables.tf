variable "project_id" {
  description = "Google Cloud project that holds the cluster, the bucket and the service accounts."
  type        = string
}

variable "region" {
  description = "Region of the regional GKE cluster and its node pools (one node group per zone)."
  type        = string
  default     = "us-central1"
}

variable "cluster_name" {
  description = "Name of the GKE cluster."
  type        = string
  default     = "rustmq"
}

variable "network" {
  description = "VPC network of the cluster."
  type        = string
  default     = "default"
}

variable "subnetwork" {
  description = "Subnetwork of the cluster (empty: the network's default for the region)."
  type        = string
  default     = ""
}

variable "release_channel" {
  description = "GKE release channel (RAPID, REGULAR or STABLE)."
  type        = string
  default     = "REGULAR"

  validation {
    condition     = contains(["RAPID", "REGULAR", "STABLE"], var.release_channel)
    error_message = "release_channel must be RAPID, REGULAR or STABLE."
  }
}

variable "deletion_protection" {
  description = "Refuse to destroy the GKE cluster (turn off only to tear a test cluster down)."
  type        = bool
  default     = true
}

variable "master_ipv4_cidr" {
  description = "The /28 range of the private cluster's control plane (must not overlap the network)."
  type        = string
  default     = "172.16.0.0/28"
}

variable "master_authorized_cidrs" {
  description = "CIDR blocks allowed to reach the Kubernetes API (empty: no restriction beyond authentication)."
  type        = list(string)
  default     = []
}

variable "broker_pool" {
  description = "Broker nodes: machine type, nodes per zone, boot disk, and local NVMe SSDs for the WAL (0: the WAL lives on the persistent disk the RustMQCluster claims)."
  type = object({
    machine_type    = string
    nodes_per_zone  = number
    disk_type       = string
    disk_size_gb    = number
    local_ssd_count = number
  })
  default = {
    machine_type    = "n2-standard-8"
    nodes_per_zone  = 1
    disk_type       = "pd-ssd"
    disk_size_gb    = 100
    local_ssd_count = 0
  }

  validation {
    condition     = var.broker_pool.nodes_per_zone >= 1 && contains(["pd-ssd", "pd-balanced", "hyperdisk-balanced"], var.broker_pool.disk_type)
    error_message = "broker_pool needs at least one node per zone and an SSD-backed disk type (pd-ssd, pd-balanced or hyperdisk-balanced)."
  }
}

variable "controller_pool" {
  description = "Controller nodes: three or five Raft voters need little CPU but steady disks."
  type = object({
    machine_type   = string
    nodes_per_zone = number
    disk_type      = string
    disk_size_gb   = number
  })
  default = {
    machine_type   = "n2-standard-2"
    nodes_per_zone = 1
    disk_type      = "pd-ssd"
    disk_size_gb   = 50
  }
}

variable "bucket_name" {
  description = "Name of the GCS bucket brokers tier their data to (globally unique; empty: <project_id>-<cluster_name>)."
  type        = string
  default     = ""
}

variable "bucket_location" {
  description = "Location of the bucket (empty: the cluster's region, so uploads and cold reads stay in the region)."
  type        = string
  default     = ""
}

variable "bucket_prefix" {
  description = "Prefix of every object the cluster writes (spec.objectStorage.gcs.prefix)."
  type        = string
  default     = "rustmq"
}

variable "nearline_after_days" {
  description = "Move objects to NEARLINE after this many days (null: never). Cold reads of older data then cost retrieval fees."
  type        = number
  default     = null
}

variable "delete_after_days" {
  description = "Delete objects after this many days as a safety net behind topic retention (null: never; RustMQ deletes what retention drops itself)."
  type        = number
  default     = null
}

variable "retention_period_days" {
  description = "Bucket retention policy: objects cannot be deleted before this many days (null: none). RustMQ's own deletes then fail until the period passed, so set it only for compliance."
  type        = number
  default     = null
}

variable "force_destroy_bucket" {
  description = "Let terraform destroy a bucket that still holds objects."
  type        = bool
  default     = false
}

variable "kubernetes_namespace" {
  description = "Namespace the RustMQCluster lives in."
  type        = string
  default     = "rustmq"
}

variable "rustmq_cluster_name" {
  description = "metadata.name of the RustMQCluster: the operator names the pods' ServiceAccount after it, which Workload Identity binds to the brokers' Google service account."
  type        = string
  default     = "rustmq"
}

variable "labels" {
  description = "Labels on every resource that takes them."
  type        = map(string)
  default     = {}
}
