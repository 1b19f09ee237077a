//! Edits to the ONNX graph before tract reads it (see the module above for why): every
//! activation's QuantizeLinear → DequantizeLinear pair is removed and its consumers read the
//! float value instead. Weights keep their DequantizeLinear (constant-folded to f32 once).

use std::collections::{HashMap, HashSet};

use tract_onnx::pb::ModelProto;

const QUANTIZE: &str = "QuantizeLinear";
const DEQUANTIZE: &str = "DequantizeLinear";

/// Removes the quantize/dequantize pairs on activations; how many were removed.
pub(super) fn dequantize_activations(proto: &mut ModelProto) -> Result<usize, String> {
    let graph = proto.graph.as_mut().ok_or("the file has no graph")?;
    let weights: HashSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    // The float value each removed pair's output stands for.
    let mut replaced: HashMap<String, String> = HashMap::new();
    let mut removed: HashSet<usize> = HashSet::new();
    for (q, node) in graph.node.iter().enumerate() {
        let Some(input) = node.input.first() else {
            continue;
        };
        if node.op_type != QUANTIZE || weights.contains(input.as_str()) {
            continue;
        }
        let Some(quantized) = node.output.first() else {
            continue;
        };
        let consumers: Vec<usize> = graph
            .node
            .iter()
            .enumerate()
            .filter(|(_, n)| n.input.iter().any(|i| i == quantized))
            .map(|(i, _)| i)
            .collect();
        // Only a pair whose quantized value nothing else reads.
        if let [dq] = consumers[..]
            && graph.node[dq].op_type == DEQUANTIZE
            && let Some(out) = graph.node[dq].output.first()
        {
            replaced.insert(out.clone(), input.clone());
            removed.extend([q, dq]);
        }
    }
    let mut index = 0;
    graph.node.retain(|_| {
        let keep = !removed.contains(&index);
        index += 1;
        keep
    });
    for node in &mut graph.node {
        for input in &mut node.input {
            if let Some(float) = replaced.get(input) {
                *input = float.clone();
            }
        }
    }
    for output in &mut graph.output {
        if let Some(float) = replaced.get(&output.name) {
            output.name = float.clone();
        }
    }
    Ok(replaced.len())
}
