package e2e

import "go.temporal.io/api/workflowservice/v1"

var workflowCountRequest = workflowservice.CountWorkflowExecutionsRequest{Query: "WorkflowType = 'OrderWorkflow'"}
