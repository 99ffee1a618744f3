# A regional GKE cluster with node pools for RustMQ brokers and controllers, the GCS bucket
# brokers tier their data to, and the least-privileged identity brokers use to reach it:
# a Google service account bound through Workload Identity to the Kubernetes
# ServiceAccount the RustMQ operator creates for a RustMQCluster.

locals {
  bucket_name     = var.bucket_name != "" ? var.bucket_name : "${var.project_id}-${var.cluster_name}"
  bucket_location = var.bucket_location != "" ? var.bucket_location : upper(var.region)
  workload_pool   = "${var.project_id}.svc.id.goog"
  labels          = merge({ "app" = "rustmq", "managed-by" = "terraform" }, var.labels)
}

# Nodes run as their own service account with only what logging and monitoring need, not
# as the project's default compute account (which has Editor).
resource "google_service_account" "nodes" {
  project      = var.project_id
  account_id   = "${var.cluster_name}-nodes"
  display_name = "RustMQ GKE nodes (${var.cluster_name})"
}

resource "google_project_iam_member" "nodes" {
  for_each = toset([
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/monitoring.viewer",
    "roles/stackdriver.resourceMetadata.writer",
    "roles/artifactregistry.reader",
  ])
  project = var.project_id
  role    = each.value
  member  = "serviceAccount:${google_service_account.nodes.email}"
}

resource "google_container_cluster" "this" {
  project             = var.project_id
  name                = var.cluster_name
  location            = var.region
  network             = var.network
  subnetwork          = var.subnetwork != "" ? var.subnetwork : null
  deletion_protection = var.deletion_protection

  # Node pools are managed below; the default one is removed at once.
  remove_default_node_pool = true
  initial_node_count       = 1

  release_channel {
    channel = var.release_channel
  }

  workload_identity_config {
    workload_pool = local.workload_pool
  }

  networking_mode = "VPC_NATIVE"
  ip_allocation_policy {}

  # Nodes have no public addresses; they reach Google APIs (the bucket) through Private
  # Google Access and the internet (image pulls) through the Cloud NAT below.
  private_cluster_config {
    enable_private_nodes    = true
    enable_private_endpoint = false
    master_ipv4_cidr_block  = var.master_ipv4_cidr
  }

  master_auth {
    client_certificate_config {
      issue_client_certificate = false
    }
  }

  enable_shielded_nodes       = true
  enable_intranode_visibility = true

  # Only for the default pool, which is removed at once; the pools below set it too.
  node_config {
    workload_metadata_config {
      mode = "GKE_METADATA"
    }
    shielded_instance_config {
      enable_secure_boot          = true
      enable_integrity_monitoring = true
    }
  }

  # The project's Binary Authorization policy decides which images may run (its default
  # policy allows all; tighten it to signed RustMQ images).
  binary_authorization {
    evaluation_mode = "PROJECT_SINGLETON_POLICY_ENFORCE"
  }

  network_policy {
    enabled = true
  }

  dynamic "master_authorized_networks_config" {
    for_each = length(var.master_authorized_cidrs) > 0 ? [1] : []
    content {
      dynamic "cidr_blocks" {
        for_each = var.master_authorized_cidrs
        content {
          cidr_block = cidr_blocks.value
        }
      }
    }
  }

  resource_labels = local.labels
}

# Egress for private nodes (image pulls from outside Google).
resource "google_compute_router" "nat" {
  project = var.project_id
  name    = "${var.cluster_name}-nat"
  region  = var.region
  network = var.network
}

resource "google_compute_router_nat" "nat" {
  project                            = var.project_id
  name                               = "${var.cluster_name}-nat"
  router                             = google_compute_router.nat.name
  region                             = var.region
  nat_ip_allocate_option             = "AUTO_ONLY"
  source_subnetwork_ip_ranges_to_nat = "ALL_SUBNETWORKS_ALL_IP_RANGES"

  log_config {
    enable = true
    filter = "ERRORS_ONLY"
  }
}

resource "google_container_node_pool" "brokers" {
  project    = var.project_id
  name       = "brokers"
  cluster    = google_container_cluster.this.id
  location   = var.region
  node_count = var.broker_pool.nodes_per_zone

  management {
    auto_repair  = true
    auto_upgrade = true
  }

  # A node upgrade drains one node at a time; the brokers' PodDisruptionBudget and the
  # operator's controlled shutdown keep every partition writable meanwhile.
  upgrade_settings {
    max_surge       = 1
    max_unavailable = 0
  }

  node_config {
    machine_type    = var.broker_pool.machine_type
    disk_type       = var.broker_pool.disk_type
    disk_size_gb    = var.broker_pool.disk_size_gb
    service_account = google_service_account.nodes.email
    oauth_scopes    = ["https://www.googleapis.com/auth/cloud-platform"]
    labels          = merge(local.labels, { "rustmq.io/role" = "broker" })

    dynamic "local_nvme_ssd_block_config" {
      for_each = var.broker_pool.local_ssd_count > 0 ? [1] : []
      content {
        local_ssd_count = var.broker_pool.local_ssd_count
      }
    }

    # Only RustMQ brokers (which tolerate it) land here.
    taint {
      key    = "rustmq.io/role"
      value  = "broker"
      effect = "NO_SCHEDULE"
    }

    workload_metadata_config {
      mode = "GKE_METADATA"
    }

    # The brokers' QUIC sockets ask for 8 MiB buffers (network.udp_buffer_bytes); the kernel
    # grants at most these. With the 208 KiB default a busy broker drops datagrams and QUIC
    # recovers with timeouts (hundreds of ms of produce latency).
    linux_node_config {
      sysctls = {
        "net.core.rmem_max" = "16777216"
        "net.core.wmem_max" = "16777216"
      }
    }

    shielded_instance_config {
      enable_secure_boot          = true
      enable_integrity_monitoring = true
    }

    metadata = {
      disable-legacy-endpoints = "true"
    }
  }
}

resource "google_container_node_pool" "controllers" {
  project    = var.project_id
  name       = "controllers"
  cluster    = google_container_cluster.this.id
  location   = var.region
  node_count = var.controller_pool.nodes_per_zone

  management {
    auto_repair  = true
    auto_upgrade = true
  }

  upgrade_settings {
    max_surge       = 1
    max_unavailable = 0
  }

  node_config {
    machine_type    = var.controller_pool.machine_type
    disk_type       = var.controller_pool.disk_type
    disk_size_gb    = var.controller_pool.disk_size_gb
    service_account = google_service_account.nodes.email
    oauth_scopes    = ["https://www.googleapis.com/auth/cloud-platform"]
    labels          = merge(local.labels, { "rustmq.io/role" = "controller" })

    taint {
      key    = "rustmq.io/role"
      value  = "controller"
      effect = "NO_SCHEDULE"
    }

    workload_metadata_config {
      mode = "GKE_METADATA"
    }

    shielded_instance_config {
      enable_secure_boot          = true
      enable_integrity_monitoring = true
    }

    metadata = {
      disable-legacy-endpoints = "true"
    }
  }
}

resource "google_storage_bucket" "data" {
  project                     = var.project_id
  name                        = local.bucket_name
  location                    = local.bucket_location
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.force_destroy_bucket
  labels                      = local.labels

  # RustMQ never overwrites an object (keys carry the broker id, time and random bits) and
  # deletes only what retention, compaction or garbage collection released: old versions
  # would only cost money.
  versioning {
    enabled = false
  }

  # Uploads that died half-way (a broker killed during a PUT) leave parts behind.
  lifecycle_rule {
    condition {
      age = 1
    }
    action {
      type = "AbortIncompleteMultipartUpload"
    }
  }

  dynamic "lifecycle_rule" {
    for_each = var.nearline_after_days == null ? [] : [var.nearline_after_days]
    content {
      condition {
        age = lifecycle_rule.value
      }
      action {
        type          = "SetStorageClass"
        storage_class = "NEARLINE"
      }
    }
  }

  dynamic "lifecycle_rule" {
    for_each = var.delete_after_days == null ? [] : [var.delete_after_days]
    content {
      condition {
        age = lifecycle_rule.value
      }
      action {
        type = "Delete"
      }
    }
  }

  dynamic "retention_policy" {
    for_each = var.retention_period_days == null ? [] : [var.retention_period_days]
    content {
      retention_period = retention_policy.value * 86400
    }
  }
}

# The brokers' identity: objects of this one bucket only (create, read, list, delete), no
# bucket administration and nothing else in the project.
resource "google_service_account" "brokers" {
  project      = var.project_id
  account_id   = "${var.cluster_name}-brokers"
  display_name = "RustMQ brokers (${var.cluster_name})"
}

resource "google_storage_bucket_iam_member" "brokers" {
  bucket = google_storage_bucket.data.name
  role   = "roles/storage.objectUser"
  member = "serviceAccount:${google_service_account.brokers.email}"
}

# Workload Identity: the Kubernetes ServiceAccount the operator creates for the
# RustMQCluster (named after it) may act as the brokers' Google service account.
resource "google_service_account_iam_member" "workload_identity" {
  service_account_id = google_service_account.brokers.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "serviceAccount:${local.workload_pool}[${var.kubernetes_namespace}/${var.rustmq_cluster_name}]"

  depends_on = [google_container_cluster.this]
}
