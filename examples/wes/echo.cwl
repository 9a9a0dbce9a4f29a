#!/usr/bin/env cwl-runner
# The smallest useful workflow: echo a message into out.txt. No container needed.
cwlVersion: v1.2
class: CommandLineTool
baseCommand: echo
stdout: out.txt
inputs:
  message:
    type: string
    inputBinding: {position: 1}
outputs:
  out:
    type: stdout
