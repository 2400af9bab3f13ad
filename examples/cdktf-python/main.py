"""A transaction pipeline on AWS Lambda, packaged by lambdapack during `cdktf synth`.

Three Python 3.11 arm64 functions (validation with pydantic, processing with
orjson from the "common" layer, a status API), a Node.js 20 arm64 webhook
(uuid, from its package-lock.json), the layer and their IAM role. lambdapack
builds the layer's and each function's zip while the app runs (a no-op when
nothing changed) and hands Terraform the path and the hash, so `terraform
plan` shows a change exactly when the code changed. Run `python main.py` (or
`cdktf synth`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from cdktf import App, TerraformOutput, TerraformStack
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy_attachment import IamRolePolicyAttachment
from cdktf_cdktf_provider_aws.lambda_function import LambdaFunction
from cdktf_cdktf_provider_aws.lambda_layer_version import LambdaLayerVersion
from cdktf_cdktf_provider_aws.provider import AwsProvider
from constructs import Construct

import lambdapack

RUNTIME = "python3.11"
ARCHITECTURE = "arm64"

#: name -> (runtime, handler, memory in MB, layers)
FUNCTIONS = {
    "validation": (RUNTIME, "app.lambda_handler", 256, ()),
    "processing": (RUNTIME, "processor.handle", 512, ("common",)),
    "status": (RUNTIME, "status.handler", 128, ()),
    "webhook": ("nodejs20.x", "index.handler", 128, ()),
}

ASSUME_ROLE = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}


class TransactionPipeline(TerraformStack):
    def __init__(self, scope: Construct, stack_id: str, outdir: str) -> None:
        super().__init__(scope, stack_id)
        # Terraform runs in cdktf.out/stacks/<id>: paths relative to it keep cdk.tf.json
        # the same on every machine.
        stack_dir = Path(outdir, "stacks", stack_id).resolve()

        AwsProvider(self, "aws", region="eu-west-1")
        role = IamRole(
            self,
            "role",
            name="transaction-pipeline",
            assume_role_policy=json.dumps(ASSUME_ROLE),
        )
        IamRolePolicyAttachment(
            self,
            "logs",
            role=role.name,
            policy_arn="arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
        )

        # A layer: its zip holds python/orjson…, which Lambda unpacks to /opt/python (on the
        # path). A Python layer's zip serves one Python version (wheels differ): one call each.
        common = lambdapack.build_layer(
            requirements="layers/common/requirements.txt",
            runtimes=[RUNTIME],
            architecture=ARCHITECTURE,
        )
        layers = {
            "common": LambdaLayerVersion(
                self,
                "common",
                layer_name="transactions-common",
                filename=os.path.relpath(common.path, stack_dir),
                source_code_hash=common.code_sha256,
                compatible_runtimes=list(common.compatible_runtimes),
                compatible_architectures=list(common.compatible_architectures),
            )
        }
        TerraformOutput(self, "common_layer_arn", value=layers["common"].arn)

        for name, (runtime, handler, memory, uses) in FUNCTIONS.items():
            # Relative paths are taken from the project (the directory holding cdktf.json
            # or lambdapack.toml), not from wherever the app was started.
            artifact = lambdapack.build_function(
                f"functions/{name}",
                runtime=runtime,
                architecture=ARCHITECTURE,
                handler=handler,
                layers=[common] if uses else (),
            )
            function = LambdaFunction(
                self,
                name,
                function_name=f"transactions-{name}",
                role=role.arn,
                runtime=runtime,
                architectures=[ARCHITECTURE],
                handler=handler,
                memory_size=memory,
                timeout=10,
                filename=os.path.relpath(artifact.path, stack_dir),
                source_code_hash=artifact.code_sha256,
                layers=[layers[layer].arn for layer in uses] or None,
            )
            # With an AWS provider that takes `code_sha256` (compared with Lambda's CodeSha256),
            # set it too; these bindings do not expose the argument, so use an override:
            #   function.add_override("code_sha256", artifact.code_sha256)
            TerraformOutput(self, f"{name}_arn", value=function.arn)
            TerraformOutput(self, f"{name}_code_sha256", value=artifact.code_sha256)


app = App()
TransactionPipeline(app, "transactions", app.outdir)
app.synth()
