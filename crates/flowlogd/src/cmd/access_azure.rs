//! `flowlogd access grant azure`: prints the az CLI or PowerShell script that gives
//! flowlogd's identity read access to the flow-log containers and the Network Watcher
//! flow-log configurations, and nothing more.

use std::process::ExitCode;

use clap::{Args, ValueEnum};
use flowlogd_access::azure::{grant_script, AzureGrant, Shell};
use flowlogd_sources::azure_blob::{NSG_CONTAINER, VNET_CONTAINER};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShellArg {
    Az,
    Powershell,
}

#[derive(Debug, Args)]
pub struct GrantAzureArgs {
    /// Subscription id of the storage account.
    #[arg(long)]
    pub subscription: String,
    /// Resource group of the storage account.
    #[arg(long)]
    pub resource_group: String,
    /// Storage account that receives the flow logs.
    #[arg(long)]
    pub storage_account: String,
    /// Flow-log container (repeatable; default: the VNet and the NSG containers).
    #[arg(long = "container")]
    pub containers: Vec<String>,
    /// Object id of flowlogd's managed identity or service principal, or a user's
    /// sign-in name.
    #[arg(long)]
    pub assignee: String,
    /// Resource group of the Network Watchers.
    #[arg(long, default_value = "NetworkWatcherRG")]
    pub network_watcher_resource_group: String,
    /// Script language.
    #[arg(long, value_enum, default_value = "az")]
    pub shell: ShellArg,
}

pub fn grant_azure(a: GrantAzureArgs) -> anyhow::Result<ExitCode> {
    let containers = if a.containers.is_empty() {
        vec![VNET_CONTAINER.to_owned(), NSG_CONTAINER.to_owned()]
    } else {
        a.containers
    };
    let grant = AzureGrant {
        subscription: a.subscription,
        resource_group: a.resource_group,
        storage_account: a.storage_account,
        containers,
        assignee: a.assignee,
        network_watcher_resource_group: a.network_watcher_resource_group,
    };
    let problems = grant.problems();
    if !problems.is_empty() {
        anyhow::bail!("cannot write the grant:\n  - {}", problems.join("\n  - "));
    }
    let shell = match a.shell {
        ShellArg::Az => Shell::Az,
        ShellArg::Powershell => Shell::PowerShell,
    };
    print!("{}", grant_script(&grant, shell));
    Ok(ExitCode::SUCCESS)
}
