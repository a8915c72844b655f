//! Privilege-escalation paths: sets of actions that, allowed together, let a principal give
//! itself more than it has. The list is Rhino Security Labs' (as cloudsplaining carries it),
//! with the pass-role paths to other services that run code.

/// A path's name and the actions (lower case) that make it.
pub struct Path {
    pub name: &'static str,
    pub actions: &'static [&'static str],
}

const fn p(name: &'static str, actions: &'static [&'static str]) -> Path {
    Path { name, actions }
}

pub static PATHS: &[Path] = &[
    p("CreateAccessKey", &["iam:createaccesskey"]),
    p("CreateLoginProfile", &["iam:createloginprofile"]),
    p("UpdateLoginProfile", &["iam:updateloginprofile"]),
    p("AddUserToGroup", &["iam:addusertogroup"]),
    p("CreateNewPolicyVersion", &["iam:createpolicyversion"]),
    p(
        "SetExistingDefaultPolicyVersion",
        &["iam:setdefaultpolicyversion"],
    ),
    p("AttachUserPolicy", &["iam:attachuserpolicy"]),
    p("AttachGroupPolicy", &["iam:attachgrouppolicy"]),
    p("AttachRolePolicy", &["iam:attachrolepolicy"]),
    p("PutUserPolicy", &["iam:putuserpolicy"]),
    p("PutGroupPolicy", &["iam:putgrouppolicy"]),
    p("PutRolePolicy", &["iam:putrolepolicy"]),
    p(
        "UpdateRolePolicyToAssumeIt",
        &["iam:updateassumerolepolicy"],
    ),
    p(
        "CreateEC2WithExistingIP",
        &["iam:passrole", "ec2:runinstances"],
    ),
    p(
        "PassExistingRoleToNewLambdaThenInvoke",
        &[
            "iam:passrole",
            "lambda:createfunction",
            "lambda:invokefunction",
        ],
    ),
    p(
        "PassExistingRoleToNewLambdaThenTriggerWithExistingDynamo",
        &[
            "iam:passrole",
            "lambda:createfunction",
            "lambda:createeventsourcemapping",
        ],
    ),
    p(
        "PassExistingRoleToNewGlueDevEndpoint",
        &["iam:passrole", "glue:createdevendpoint"],
    ),
    p(
        "PassExistingRoleToCloudFormation",
        &["iam:passrole", "cloudformation:createstack"],
    ),
    p(
        "PassExistingRoleToNewDataPipeline",
        &["iam:passrole", "datapipeline:createpipeline"],
    ),
    p("UpdateExistingGlueDevEndpoint", &["glue:updatedevendpoint"]),
    p(
        "EditExistingLambdaFunctionWithRole",
        &["lambda:updatefunctioncode"],
    ),
    p(
        "PassExistingRoleToNewCodeBuildProjectThenBuild",
        &[
            "iam:passrole",
            "codebuild:createproject",
            "codebuild:startbuild",
        ],
    ),
    p(
        "PassExistingRoleToNewECSTaskViaRunTask",
        &["iam:passrole", "ecs:registertaskdefinition", "ecs:runtask"],
    ),
    p(
        "PassExistingRoleToNewSageMakerNotebookInstance",
        &["iam:passrole", "sagemaker:createnotebookinstance"],
    ),
    p(
        "PassExistingRoleToNewGlueJobThenRun",
        &["iam:passrole", "glue:createjob", "glue:startjobrun"],
    ),
    p(
        "PassExistingRoleToNewAppRunnerService",
        &["iam:passrole", "apprunner:createservice"],
    ),
];

/// The paths every action of which `allowed` says is allowed.
pub fn open_paths(allowed: impl Fn(&str) -> bool) -> Vec<&'static Path> {
    PATHS
        .iter()
        .filter(|path| path.actions.iter().all(|a| allowed(a)))
        .collect()
}
