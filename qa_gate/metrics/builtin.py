"""The built-in metrics: each name and the class that computes it (``qa_gate.metrics.registry`` resolves names)."""

from __future__ import annotations

from qa_gate.errors import ConfigError
from qa_gate.metrics.base import Metric
from qa_gate.registry import Registry

METRICS: Registry[type[Metric]] = Registry("metric", {
    "clipscore": "qa_gate.metrics.clip:CLIPScore",
    "refclipscore": "qa_gate.metrics.clip:RefCLIPScore",
    "cosine": "qa_gate.metrics.clip:Cosine",
    "i2t_r1": "qa_gate.metrics.retrieval:I2TRecallAt1",
    "i2t_r5": "qa_gate.metrics.retrieval:I2TRecallAt5",
    "i2t_r10": "qa_gate.metrics.retrieval:I2TRecallAt10",
    "i2t_median_rank": "qa_gate.metrics.retrieval:I2TMedianRank",
    "i2t_mean_rank": "qa_gate.metrics.retrieval:I2TMeanRank",
    "t2i_r1": "qa_gate.metrics.retrieval:T2IRecallAt1",
    "t2i_r5": "qa_gate.metrics.retrieval:T2IRecallAt5",
    "t2i_r10": "qa_gate.metrics.retrieval:T2IRecallAt10",
    "t2i_median_rank": "qa_gate.metrics.retrieval:T2IMedianRank",
    "t2i_mean_rank": "qa_gate.metrics.retrieval:T2IMeanRank",
    "zeroshot_top1": "qa_gate.metrics.zeroshot:ZeroShotTop1",
    "zeroshot_top5": "qa_gate.metrics.zeroshot:ZeroShotTop5",
    "zeroshot_mean_per_class_recall": "qa_gate.metrics.zeroshot:ZeroShotMeanPerClassRecall",
    "bleu1": "qa_gate.metrics.text:Bleu1",
    "bleu2": "qa_gate.metrics.text:Bleu2",
    "bleu3": "qa_gate.metrics.text:Bleu3",
    "bleu4": "qa_gate.metrics.text:Bleu4",
    "cider": "qa_gate.metrics.text:CIDErD",
    "rouge_l": "qa_gate.metrics.text:RougeL",
    "meteor": "qa_gate.metrics.text:Meteor",
    "latency_p50_ms": "qa_gate.metrics.efficiency:LatencyP50",
    "latency_p95_ms": "qa_gate.metrics.efficiency:LatencyP95",
    "throughput": "qa_gate.metrics.efficiency:Throughput",
    "peak_memory_mb": "qa_gate.metrics.efficiency:PeakMemory",
    "vqa_accuracy": "qa_gate.metrics.vqa:VQAAccuracy",
    "cer": "qa_gate.metrics.ocr:CER",
    "wer": "qa_gate.metrics.ocr:WER",
    "f1_micro": "qa_gate.metrics.classification:F1Micro",
    "f1_macro": "qa_gate.metrics.classification:F1Macro",
    "f1_samples": "qa_gate.metrics.classification:F1Samples",
    "f1_weighted": "qa_gate.metrics.classification:F1Weighted",
    "pope_accuracy": "qa_gate.metrics.pope:PopeAccuracy",
    "pope_precision": "qa_gate.metrics.pope:PopePrecision",
    "pope_recall": "qa_gate.metrics.pope:PopeRecall",
    "pope_f1": "qa_gate.metrics.pope:PopeF1",
    "pope_yes_ratio": "qa_gate.metrics.pope:PopeYesRatio",
    "chair_i": "qa_gate.metrics.chair:ChairI",
    "chair_s": "qa_gate.metrics.chair:ChairS",
    "object_recall": "qa_gate.metrics.chair:ObjectRecall",
    "answer_agreement": "qa_gate.metrics.agreement:AnswerAgreement",
    "label_agreement": "qa_gate.metrics.agreement:LabelAgreement",
    "label_agreement_micro": "qa_gate.metrics.agreement:LabelAgreementMicro",
    "caption_agreement": "qa_gate.metrics.agreement:CaptionAgreement",
    "caption_agreement_bleu4": "qa_gate.metrics.agreement:CaptionAgreementBleu4",
    "caption_agreement_clipscore": "qa_gate.metrics.agreement:CaptionAgreementCLIPScore",
    "text_agreement": "qa_gate.metrics.agreement:TextAgreement",
    "embedding_agreement": "qa_gate.metrics.agreement:EmbeddingAgreement",
}, ConfigError)
"""Each metric name and the class that computes it; a metric is a fresh instance of its class."""
CONSISTENCY = "consistency"
"""The base name of ``consistency@P`` (``qa_gate.metrics.consistency``): no clean metric of its own."""
