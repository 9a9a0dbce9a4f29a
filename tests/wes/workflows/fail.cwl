# Exits 1: the run ends EXECUTOR_ERROR.
cwlVersion: v1.2
class: CommandLineTool
baseCommand: "false"
inputs: []
outputs: []
