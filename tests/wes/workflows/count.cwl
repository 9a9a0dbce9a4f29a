# Counts the lines of an input file: a mount fed as a CWL File, attached by runhub.
cwlVersion: v1.2
class: CommandLineTool
baseCommand: [wc, -l]
stdout: count.txt
inputs:
  reads:
    type: File
    inputBinding: {position: 1}
outputs:
  count:
    type: stdout
