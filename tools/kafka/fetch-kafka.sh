#!/usr/bin/env bash
# Resolves Apache Kafka (the KRaft broker, kafka_2.13, and its tools: ProducerPerformance,
# EndToEndLatency) with every dependency from Maven Central into
# ~/.cache/rustmq-kafka/kafka-<version>/libs once, and prints that directory. The jars are a
# benchmark's reference point and are never committed. `tools/bench_kafka.py` starts Kafka
# from them.
set -euo pipefail
VERSION="${KAFKA_VERSION:-4.4.0}"
CACHE="${RUSTMQ_KAFKA_CACHE:-$HOME/.cache/rustmq-kafka}/kafka-$VERSION"
if [ -f "$CACHE/libs/.complete" ]; then
  echo "$CACHE/libs"
  exit 0
fi
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cat > "$WORK/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>rustmq.bench</groupId>
  <artifactId>kafka-reference</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$VERSION</version></dependency>
    <!-- Kafka logs through SLF4J 1.7 to Log4j 2, as its distribution does. -->
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>2.25.5</version></dependency>
  </dependencies>
</project>
POM
mkdir -p "$CACHE/libs"
mvn -q -B -f "$WORK/pom.xml" dependency:copy-dependencies \
  -DincludeScope=runtime -DoutputDirectory="$CACHE/libs" >&2
touch "$CACHE/libs/.complete"
echo "$CACHE/libs"
