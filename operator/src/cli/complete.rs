//! Shell completion: one engine (`kubectl wardops __complete WORDS...`, the
//! last word partial) that knows the commands and flags from the clap
//! definition and the resource names from the cluster; thin scripts for
//! bash, zsh and fish that call it; and `kubectl_complete-wardops`, the
//! protocol kubectl's own completion uses for plugins.

use clap::CommandFactory;
use kube::ResourceExt;

use super::kube::connect;
use super::{KubeArgs, Plugin, explain};
use crate::api::data_connector::ConnectorMode;
use crate::api::{BackupPolicy, DataConnector, WardService};

/// The completion script of `shell`, for `kubectl-wardops` on `PATH`.
pub fn script(shell: super::Shell) -> String {
    let bin = super::PLUGIN_BINARY;
    match shell {
        super::Shell::Bash => format!(
            r#"# {bin} completion for bash: source <({bin} completion bash)
_kubectl_wardops() {{
    local IFS=$'\n'
    COMPREPLY=($({bin} __complete -- "${{COMP_WORDS[@]:1:COMP_CWORD}}" 2>/dev/null))
}}
complete -o nosort -F _kubectl_wardops {bin}
"#
        ),
        super::Shell::Zsh => format!(
            r#"#compdef {bin}
# {bin} completion for zsh: source <({bin} completion zsh)
_kubectl_wardops() {{
    local -a candidates
    candidates=("${{(@f)$({bin} __complete -- "${{(@)words[2,CURRENT]}}" 2>/dev/null)}}")
    compadd -Q -a candidates
}}
compdef _kubectl_wardops {bin}
"#
        ),
        super::Shell::Fish => format!(
            r#"# {bin} completion for fish: {bin} completion fish | source
complete -c {bin} -f -a '({bin} __complete -- (commandline -opc)[2..-1] (commandline -ct) 2>/dev/null)'
"#
        ),
    }
}

/// `kubectl_complete-wardops ARGS... PARTIAL`: candidates, then the
/// directive line kubectl expects (`:4`, no file completion).
pub async fn kubectl(words: Vec<String>) -> Result<(), super::CliError> {
    for c in candidates(&KubeArgs::default(), &words).await {
        println!("{c}");
    }
    println!(":4");
    Ok(())
}

/// What a word position asks for.
#[derive(Debug, PartialEq, Eq)]
enum Want {
    Words(Vec<String>),
    Namespaces,
    WardServices,
    BackupPolicies,
    SyncConnectors,
}

/// The flags that take a value, by their spelling, from the clap definition.
fn value_flags(cmd: &clap::Command) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for a in cmd.get_arguments() {
        if !a.get_action().takes_values() || a.is_positional() {
            continue;
        }
        let id = a.get_id().to_string();
        if let Some(l) = a.get_long() {
            out.push((format!("--{l}"), id.clone()));
        }
        if let Some(s) = a.get_short() {
            out.push((format!("-{s}"), id.clone()));
        }
    }
    out
}

/// Decides what the last word completes to, and the cluster flags given.
fn analyse(words: &[String]) -> (Want, KubeArgs) {
    let mut root = Plugin::command();
    root.build();
    let mut cmd = &root;
    let mut path: Vec<String> = Vec::new();
    let mut kube = KubeArgs::default();
    let mut positionals = 0;
    let (done, _) = words.split_at(words.len().saturating_sub(1));
    let mut pending: Option<String> = None;
    for w in done {
        if let Some(id) = pending.take() {
            match id.as_str() {
                "namespace" => kube.namespace = Some(w.clone()),
                "context" => kube.context = Some(w.clone()),
                "kubeconfig" => kube.kubeconfig = Some(w.into()),
                _ => {}
            }
            continue;
        }
        if let Some((flag, value)) = w.split_once('=') {
            match flag {
                "--namespace" => kube.namespace = Some(value.to_string()),
                "--context" => kube.context = Some(value.to_string()),
                "--kubeconfig" => kube.kubeconfig = Some(value.into()),
                _ => {}
            }
            continue;
        }
        if w.starts_with('-') {
            pending = value_flags(cmd)
                .into_iter()
                .find(|(f, _)| f == w)
                .map(|(_, id)| id);
            continue;
        }
        match cmd.find_subcommand(w) {
            Some(sub) if positionals == 0 => {
                cmd = sub;
                path.push(w.clone());
            }
            _ => positionals += 1,
        }
    }
    if let Some(id) = pending {
        let want = match id.as_str() {
            "namespace" => Want::Namespaces,
            "target" | "ward" => Want::WardServices,
            _ => Want::Words(
                cmd.get_arguments()
                    .find(|a| a.get_id() == id.as_str())
                    .map(|a| {
                        a.get_possible_values()
                            .iter()
                            .filter(|v| !v.is_hide_set())
                            .map(|v| v.get_name().to_string())
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
        };
        return (want, kube);
    }
    let current = words.last().map(String::as_str).unwrap_or("");
    if current.starts_with('-') {
        let flags = cmd
            .get_arguments()
            .filter(|a| !a.is_positional() && !a.is_hide_set())
            .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
            .collect();
        return (Want::Words(flags), kube);
    }
    if cmd.has_subcommands() && positionals == 0 {
        let subs = cmd
            .get_subcommands()
            .filter(|s| !s.is_hide_set() && s.get_name() != "help")
            .map(|s| s.get_name().to_string())
            .collect();
        return (Want::Words(subs), kube);
    }
    if positionals > 0 {
        return (Want::Words(Vec::new()), kube);
    }
    let p: Vec<&str> = path.iter().map(String::as_str).collect();
    let want = match p.as_slice() {
        ["backup", "now"] | ["snapshots"] | ["restore"] => Want::BackupPolicies,
        ["sync", "now"] => Want::SyncConnectors,
        ["explain-reason"] => Want::Words(
            explain::known(explain::lang_from_env())
                .into_iter()
                .collect(),
        ),
        ["completion"] => Want::Words(
            cmd.get_arguments()
                .filter(|a| a.is_positional())
                .flat_map(|a| a.get_possible_values())
                .map(|v| v.get_name().to_string())
                .collect(),
        ),
        _ => Want::Words(Vec::new()),
    };
    (want, kube)
}

/// Candidates for the last of `words` (the words after `kubectl wardops`).
/// Cluster errors give no candidates: completion stays silent.
pub async fn candidates(base: &KubeArgs, words: &[String]) -> Vec<String> {
    let current = words.last().cloned().unwrap_or_default();
    let (want, mut kube) = analyse(words);
    kube.kubeconfig = kube.kubeconfig.or_else(|| base.kubeconfig.clone());
    kube.context = kube.context.or_else(|| base.context.clone());
    kube.namespace = kube.namespace.or_else(|| base.namespace.clone());
    let all = match want {
        Want::Words(w) => w,
        other => names(&kube, other).await.unwrap_or_default(),
    };
    all.into_iter()
        .filter(|c| c.starts_with(&current))
        .collect()
}

async fn names(kube: &KubeArgs, want: Want) -> Result<Vec<String>, super::CliError> {
    let cluster = connect(kube).await?;
    let ns = Some(cluster.namespace.as_str());
    Ok(match want {
        Want::Namespaces => {
            let api: kube::Api<k8s_openapi::api::core::v1::Namespace> =
                kube::Api::all(cluster.client.clone());
            api.list_metadata(&Default::default())
                .await
                .map(|l| l.items.iter().map(|n| n.name_any()).collect())
                .unwrap_or_default()
        }
        Want::WardServices => name_list(cluster.list::<WardService>(ns).await?.items),
        Want::BackupPolicies => name_list(cluster.list::<BackupPolicy>(ns).await?.items),
        Want::SyncConnectors => name_list(
            cluster
                .list::<DataConnector>(ns)
                .await?
                .items
                .into_iter()
                .filter(|d| d.spec.mode == ConnectorMode::Sync)
                .collect(),
        ),
        Want::Words(w) => w,
    })
}

fn name_list<K: ResourceExt>(items: Vec<K>) -> Vec<String> {
    let mut names: Vec<String> = items.iter().map(|k| k.name_any()).collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        let mut w: Vec<String> = s.split(' ').map(String::from).collect();
        if s.ends_with(' ') {
            w.pop();
            w.push(String::new());
        }
        w
    }

    #[test]
    fn completes_commands_then_their_arguments() {
        let subs = |s: &str| match analyse(&words(s)).0 {
            Want::Words(w) => w,
            other => panic!("{other:?}"),
        };
        let top = subs("");
        for c in [
            "status",
            "backup",
            "snapshots",
            "restore",
            "sync",
            "explain-reason",
            "completion",
        ] {
            assert!(top.contains(&c.to_string()), "{top:?}");
        }
        assert!(!top.iter().any(|c| c.starts_with("__")), "{top:?}");
        assert_eq!(subs("backup "), ["now"]);
        assert_eq!(analyse(&words("backup now ")).0, Want::BackupPolicies);
        assert_eq!(analyse(&words("sync now da")).0, Want::SyncConnectors);
        assert_eq!(
            analyse(&words("restore nightly --ward ")).0,
            Want::WardServices
        );
        assert_eq!(analyse(&words("-n ")).0, Want::Namespaces);
        assert_eq!(subs("status -o "), ["table", "json", "yaml"]);
        assert_eq!(subs("completion "), ["bash", "zsh", "fish"]);
        assert!(subs("status --").contains(&"--all-namespaces".to_string()));
        assert!(subs("explain-reason ").contains(&"SecretMissing".to_string()));
        assert!(subs("backup now nightly ").is_empty());
    }

    #[test]
    fn reads_the_cluster_flags_before_the_word() {
        let (_, k) = analyse(&words("-n ward-a --context=prod backup now "));
        assert_eq!(k.namespace.as_deref(), Some("ward-a"));
        assert_eq!(k.context.as_deref(), Some("prod"));
    }
}
