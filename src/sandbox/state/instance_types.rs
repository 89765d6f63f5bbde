//! Capacity of common EC2 instance types (vCPU, memory, max pods with the VPC
//! CNI's default ENI limits).

pub struct InstanceType {
    pub name: &'static str,
    pub cpu_milli: u64,
    pub memory_bytes: u64,
    pub pods: u32,
}

const GI: u64 = 1 << 30;

const TABLE: &[InstanceType] = &[
    InstanceType {
        name: "t3.medium",
        cpu_milli: 2000,
        memory_bytes: 4 * GI,
        pods: 17,
    },
    InstanceType {
        name: "t3.large",
        cpu_milli: 2000,
        memory_bytes: 8 * GI,
        pods: 35,
    },
    InstanceType {
        name: "m5.large",
        cpu_milli: 2000,
        memory_bytes: 8 * GI,
        pods: 29,
    },
    InstanceType {
        name: "m5.xlarge",
        cpu_milli: 4000,
        memory_bytes: 16 * GI,
        pods: 58,
    },
    InstanceType {
        name: "m5.2xlarge",
        cpu_milli: 8000,
        memory_bytes: 32 * GI,
        pods: 58,
    },
    InstanceType {
        name: "m6i.large",
        cpu_milli: 2000,
        memory_bytes: 8 * GI,
        pods: 29,
    },
    InstanceType {
        name: "m6i.xlarge",
        cpu_milli: 4000,
        memory_bytes: 16 * GI,
        pods: 58,
    },
    InstanceType {
        name: "c5.xlarge",
        cpu_milli: 4000,
        memory_bytes: 8 * GI,
        pods: 58,
    },
    InstanceType {
        name: "r5.large",
        cpu_milli: 2000,
        memory_bytes: 16 * GI,
        pods: 29,
    },
    InstanceType {
        name: "r5.xlarge",
        cpu_milli: 4000,
        memory_bytes: 32 * GI,
        pods: 58,
    },
];

pub fn lookup(name: &str) -> Option<&'static InstanceType> {
    TABLE.iter().find(|t| t.name == name)
}

pub fn known() -> Vec<&'static str> {
    TABLE.iter().map(|t| t.name).collect()
}
