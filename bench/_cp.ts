import { checkpointBench, printCheckpointBench } from './files.js'
printCheckpointBench(await checkpointBench())
