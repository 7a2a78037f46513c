//! The least-privilege Azure grant: *Storage Blob Data Reader* on each flow-log container
//! (read and list blobs, nothing else in the account) and *Reader* on the Network Watcher
//! resource group (flow-log configurations, for the inventory), as an az CLI or a
//! PowerShell script.

/// Which shell the script is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shell {
    /// bash + Azure CLI (`az role assignment create`).
    Az,
    /// PowerShell + Az module (`New-AzRoleAssignment`).
    PowerShell,
}

/// What to grant, and to whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AzureGrant {
    pub subscription: String,
    /// Resource group of the storage account.
    pub resource_group: String,
    pub storage_account: String,
    /// Flow-log containers (VNet and NSG by default).
    pub containers: Vec<String>,
    /// Object id of flowlogd's managed identity or service principal, or a user's sign-in
    /// name (`user@example.com`).
    pub assignee: String,
    /// Resource group of the Network Watchers (`NetworkWatcherRG` unless moved).
    pub network_watcher_resource_group: String,
}

impl AzureGrant {
    /// Values that would not be a valid Azure name (and could not be quoted safely).
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let ok = |s: &str, extra: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || extra.contains(c))
        };
        if !ok(&self.subscription, "") {
            out.push(format!(
                "--subscription {:?}: expected a subscription id (GUID)",
                self.subscription
            ));
        }
        for (flag, v) in [
            ("--resource-group", &self.resource_group),
            (
                "--network-watcher-resource-group",
                &self.network_watcher_resource_group,
            ),
        ] {
            if !ok(v, "._()") || v.len() > 90 {
                out.push(format!(
                    "{flag} {v:?}: letters, digits, '-', '_', '.', '(' and ')' only"
                ));
            }
        }
        if !(3..=24).contains(&self.storage_account.len())
            || !self
                .storage_account
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        {
            out.push(format!(
                "--storage-account {:?}: 3-24 lower-case letters and digits",
                self.storage_account
            ));
        }
        if self.containers.is_empty() {
            out.push("--container: at least one container".into());
        }
        for c in &self.containers {
            if !ok(c, "") || c.chars().any(|ch| ch.is_ascii_uppercase()) {
                out.push(format!(
                    "--container {c:?}: lower-case letters, digits and '-'"
                ));
            }
        }
        if !ok(&self.assignee, "@._") {
            out.push(format!(
                "--assignee {:?}: an object id (GUID) or a sign-in name",
                self.assignee
            ));
        }
        out
    }

    fn account_scope(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Storage/storageAccounts/{}",
            self.subscription, self.resource_group, self.storage_account
        )
    }

    fn watcher_scope(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}",
            self.subscription, self.network_watcher_resource_group
        )
    }
}

/// The script that grants `g`, for `shell`. Run it as someone who may assign roles (Owner or
/// User Access Administrator on the scopes); re-running it is harmless.
pub fn grant_script(g: &AzureGrant, shell: Shell) -> String {
    match shell {
        Shell::Az => az_script(g),
        Shell::PowerShell => powershell_script(g),
    }
}

fn az_script(g: &AzureGrant) -> String {
    let mut s = String::new();
    s.push_str("#!/usr/bin/env bash\n");
    s.push_str("# flowlogd: least-privilege read access to Azure flow logs.\n");
    s.push_str(
        "#  - Storage Blob Data Reader on each flow-log container (list + read blobs only)\n",
    );
    s.push_str("#  - Reader on the Network Watcher resource group (flow-log configurations, for `flowlogd inventory`)\n");
    s.push_str("set -euo pipefail\n\n");
    s.push_str(&format!("ASSIGNEE='{}'\n", g.assignee));
    s.push_str(&format!("ACCOUNT_SCOPE='{}'\n\n", g.account_scope()));
    s.push_str(&format!(
        "az account set --subscription '{}'\n\n",
        g.subscription
    ));
    for c in &g.containers {
        s.push_str(&format!(
            "az role assignment create --assignee \"$ASSIGNEE\" --role 'Storage Blob Data Reader' \\\n  --scope \"$ACCOUNT_SCOPE/blobServices/default/containers/{c}\"\n"
        ));
    }
    s.push_str(&format!(
        "\naz role assignment create --assignee \"$ASSIGNEE\" --role 'Reader' \\\n  --scope '{}'\n",
        g.watcher_scope()
    ));
    s
}

fn powershell_script(g: &AzureGrant) -> String {
    let who = if g.assignee.contains('@') {
        "-SignInName $Assignee"
    } else {
        "-ObjectId $Assignee"
    };
    let mut s = String::new();
    s.push_str(
        "# flowlogd: least-privilege read access to Azure flow logs (Az PowerShell module).\n",
    );
    s.push_str(
        "#  - Storage Blob Data Reader on each flow-log container (list + read blobs only)\n",
    );
    s.push_str("#  - Reader on the Network Watcher resource group (flow-log configurations, for `flowlogd inventory`)\n");
    s.push_str("$ErrorActionPreference = 'Stop'\n\n");
    s.push_str(&format!("$Assignee = '{}'\n", g.assignee));
    s.push_str(&format!("$AccountScope = '{}'\n\n", g.account_scope()));
    s.push_str(&format!(
        "Set-AzContext -Subscription '{}' | Out-Null\n\n",
        g.subscription
    ));
    s.push_str("function Grant-Role($Role, $Scope) {\n");
    s.push_str(&format!(
        "  if (-not (Get-AzRoleAssignment {who} -RoleDefinitionName $Role -Scope $Scope -ErrorAction SilentlyContinue)) {{\n"
    ));
    s.push_str(&format!(
        "    New-AzRoleAssignment {who} -RoleDefinitionName $Role -Scope $Scope | Out-Null\n"
    ));
    s.push_str("  }\n  Write-Output \"granted $Role on $Scope\"\n}\n\n");
    for c in &g.containers {
        s.push_str(&format!(
            "Grant-Role 'Storage Blob Data Reader' \"$AccountScope/blobServices/default/containers/{c}\"\n"
        ));
    }
    s.push_str(&format!("Grant-Role 'Reader' '{}'\n", g.watcher_scope()));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant() -> AzureGrant {
        AzureGrant {
            subscription: "00000000-1111-2222-3333-444444444444".into(),
            resource_group: "rg-flowlogs".into(),
            storage_account: "flowlogsacct".into(),
            containers: vec![
                "insights-logs-flowlogflowevent".into(),
                "insights-logs-networksecuritygroupflowevent".into(),
            ],
            assignee: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee".into(),
            network_watcher_resource_group: "NetworkWatcherRG".into(),
        }
    }

    #[test]
    fn bad_names_are_refused() {
        assert!(grant().problems().is_empty());
        let mut g = grant();
        g.assignee = "x'; rm -rf /".into();
        g.storage_account = "Flow_Logs".into();
        g.containers.clear();
        assert_eq!(g.problems().len(), 3, "{:?}", g.problems());
    }
}
