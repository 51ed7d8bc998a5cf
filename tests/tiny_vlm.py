"""Tiny random-initialised VLMs built from configs (nothing downloaded), saved like a hub checkpoint.

Two architectures, LLaVA and Qwen2-VL, each with a byte-level BPE tokenizer trained here on a few
sentences and a chat template, so `AutoProcessor` / `AutoModelForImageTextToText.from_pretrained`
load them through the same code path a hub id takes.
"""

from __future__ import annotations

from pathlib import Path

CORPUS = [
    '{"one_sentence": "A river crosses farmland near a small town.", "keywords": ["river", "farm"]}',
    '{"variants": [{"one_sentence": "Dense urban area with roads and 3 parks."}], "land_cover": []}',
    "Describe the image in one sentence. Return JSON with keys one_sentence and keywords.",
    "forest, water, desert, snow, cloud, field, building, road, airport, harbour, 0123456789",
]

LLAVA_TEMPLATE = (
    "{{ bos_token }}{%- for message in messages -%}"
    "{%- if message['role'] == 'user' -%}USER: {% else %}ASSISTANT: {% endif -%}"
    "{%- for c in message['content'] -%}"
    "{%- if c['type'] == 'image' -%}<image>{{ '\\n' }}{%- elif c['type'] == 'text' -%}{{ c['text'] }}{%- endif -%}"
    "{%- endfor -%}{{ ' ' }}{%- endfor -%}{%- if add_generation_prompt -%}ASSISTANT:{%- endif -%}"
)
QWEN_TEMPLATE = (
    "{%- for message in messages -%}<|im_start|>{{ message['role'] + '\\n' }}"
    "{%- for c in message['content'] -%}"
    "{%- if c['type'] == 'image' -%}<|vision_start|><|image_pad|><|vision_end|>"
    "{%- elif c['type'] == 'text' -%}{{ c['text'] }}{%- endif -%}"
    "{%- endfor -%}<|im_end|>{{ '\\n' }}{%- endfor -%}"
    "{%- if add_generation_prompt -%}<|im_start|>assistant{{ '\\n' }}{%- endif -%}"
)


def _tokenizer(specials: list[str], chat_template: str, **special_kwargs):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, padding_side="left", chat_template=chat_template, **special_kwargs
    )


def _vocab(tokenizer) -> int:
    return (len(tokenizer) + 63) // 64 * 64  # padded like real checkpoints


def _finish(model, tokenizer, processor, eos_ids: list[int], out_dir: Path) -> Path:
    model.generation_config.eos_token_id = eos_ids
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.do_sample = False
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    return out_dir


def build_tiny_llava(out_dir: Path, seed: int = 0) -> Path:
    import torch
    from transformers import (
        AutoModelForImageTextToText,
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaProcessor,
    )

    tok = _tokenizer(
        ["<s>", "</s>", "<pad>", "<image>"],
        LLAVA_TEMPLATE,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        extra_special_tokens={"image_token": "<image>"},
    )
    vision = CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        image_size=32,
        patch_size=8,
        projection_dim=32,
    )
    text = LlamaConfig(
        vocab_size=_vocab(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    config = LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=tok.convert_tokens_to_ids("<image>"),
        image_seq_length=16,
        vision_feature_select_strategy="default",
        vision_feature_layer=-2,
    )
    torch.manual_seed(seed)
    model = AutoModelForImageTextToText.from_config(config)
    images = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    processor = LlavaProcessor(
        image_processor=images,
        tokenizer=tok,
        patch_size=8,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=LLAVA_TEMPLATE,
        image_token="<image>",
    )
    return _finish(model, tok, processor, [tok.eos_token_id], out_dir)


def build_tiny_qwen2vl(out_dir: Path, seed: int = 0) -> Path:
    import torch
    from transformers import (
        AutoModelForImageTextToText,
        Qwen2VLConfig,
        Qwen2VLImageProcessor,
        Qwen2VLProcessor,
        Qwen2VLVideoProcessor,
    )

    specials = [
        "<|endoftext|>",
        "<|im_start|>",
        "<|im_end|>",
        "<|vision_start|>",
        "<|vision_end|>",
        "<|image_pad|>",
        "<|video_pad|>",
    ]
    tok = _tokenizer(
        specials,
        QWEN_TEMPLATE,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        extra_special_tokens={
            "image_token": "<|image_pad|>",
            "video_token": "<|video_pad|>",
            "vision_start_token": "<|vision_start|>",
            "vision_end_token": "<|vision_end|>",
        },
    )
    ids = {t: tok.convert_tokens_to_ids(t) for t in specials}
    vision = dict(
        depth=2,
        embed_dim=32,
        hidden_size=64,
        num_heads=4,
        mlp_ratio=2,
        patch_size=8,
        spatial_merge_size=2,
        temporal_patch_size=2,
    )
    text = dict(
        vocab_size=_vocab(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
        bos_token_id=None,
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
    )
    config = Qwen2VLConfig(
        vision_config=vision,
        text_config=text,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    torch.manual_seed(seed)
    model = AutoModelForImageTextToText.from_config(config)
    size = {"shortest_edge": 32 * 32, "longest_edge": 32 * 32}
    kwargs = dict(size=size, patch_size=8, merge_size=2, temporal_patch_size=2)
    processor = Qwen2VLProcessor(
        image_processor=Qwen2VLImageProcessor(**kwargs),
        video_processor=Qwen2VLVideoProcessor(**kwargs),
        tokenizer=tok,
        chat_template=QWEN_TEMPLATE,
    )
    return _finish(model, tok, processor, [ids["<|im_end|>"], ids["<|endoftext|>"]], out_dir)


BUILDERS = {"llava": build_tiny_llava, "qwen2vl": build_tiny_qwen2vl}
