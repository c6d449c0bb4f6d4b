"""Chinese label names of the large FewCLUE label sets, and the label words the MRC queries use.

Labels are always mapped BY NAME: a file's label name -> label word -> index in ``TaskSpec.label_words``.
A few names are renamed where one name occurs inside another (e.g. 视频 inside 短视频), because a label word
must never be a substring of another label word of the same task.
"""

from __future__ import annotations

__all__ = ["IFLYTEK_NAMES", "IFLYTEK_RENAMES", "CSLDCP_NAMES", "CSLDCP_RENAMES", "TNEWS_WORDS", "words_and_map"]

IFLYTEK_NAMES: tuple[str, ...] = (
    "打车", "地图导航", "免费WIFI", "租车", "同城服务", "快递物流", "婚庆", "家政", "公共交通", "政务",
    "社区服务", "薅羊毛", "魔幻", "仙侠", "卡牌", "飞行空战", "射击游戏", "休闲益智", "动作类", "体育竞技",
    "棋牌中心", "经营养成", "策略", "MOBA", "辅助工具", "约会社交", "即时通讯", "工作社交", "论坛圈子", "婚恋社交",
    "情侣社交", "社交工具", "生活社交", "微博博客", "新闻", "漫画", "小说", "技术", "教辅", "问答交流",
    "搞笑", "杂志", "百科", "影视娱乐", "求职", "兼职", "视频", "短视频", "音乐", "直播",
    "电台", "K歌", "成人", "中小学", "职考", "公务员", "英语", "视频教育", "高等教育", "成人教育",
    "艺术", "语言(非英语)", "旅游资讯", "综合预定", "民航", "铁路", "酒店", "行程管理", "民宿短租", "出国",
    "工具", "亲子儿童", "母婴", "驾校", "违章", "汽车咨询", "汽车交易", "日常养车", "行车辅助", "租房",
    "买房", "装修家居", "电子产品", "问诊挂号", "养生保健", "医疗服务", "减肥瘦身", "美妆美业", "菜谱", "餐饮店",
    "体育咨讯", "运动健身", "支付", "保险", "股票", "借贷", "理财", "彩票", "记账", "银行",
    "美颜", "影像剪辑", "摄影修图", "相机", "绘画", "二手", "电商", "团购", "外卖", "电影票务",
    "社区超市", "购物咨询", "笔记", "办公", "日程管理", "女性", "经营", "收款", "其他",
)
"""The 119 iFLYTEK app categories (``label_des``), in the order of their numeric ids 0..118."""

IFLYTEK_RENAMES: dict[str, str] = {
    "视频": "在线视频",  # inside 短视频, 视频教育
    "成人": "成人内容",  # inside 成人教育
    "语言(非英语)": "小语种",  # contains 英语
    "工具": "实用工具",  # inside 辅助工具, 社交工具
    "经营": "经营管理",  # inside 经营养成
}

CSLDCP_NAMES: tuple[str, ...] = (
    "材料科学与工程", "作物学", "口腔医学", "药学", "教育学", "水利工程",
    "理论经济学", "食品科学与工程", "畜牧学/兽医学", "体育学", "核科学与技术", "力学",
    "园艺学", "水产", "法学", "地质学/地质资源与地质工程", "石油与天然气工程", "农林经济管理",
    "信息与通信工程", "图书馆、情报与档案管理", "政治学", "电气工程", "海洋科学", "民族学",
    "航空宇航科学与技术", "化学/化学工程与技术", "哲学", "公共卫生与预防医学", "艺术学", "农业工程",
    "船舶与海洋工程", "计算机科学与技术", "冶金工程", "交通运输工程", "动力工程及工程热物理", "纺织科学与工程",
    "建筑学", "环境科学与工程", "公共管理", "数学", "物理学", "林学/林业工程",
    "心理学", "历史学", "工商管理", "应用经济学", "中医学/中药学", "天文学",
    "机械工程", "土木工程", "光学工程", "地理学", "农业资源利用", "生物学/生物科学与工程",
    "兵器科学与技术", "矿业工程", "大气科学", "基础医学/临床医学", "电子科学与技术", "测绘科学与技术",
    "控制科学与工程", "军事学", "中国语言文学", "新闻传播学", "社会学", "地球物理学",
    "植物保护",
)
"""The 67 CSLDCP disciplines, in the order of ``csldcp/labels_all.txt``."""

CSLDCP_RENAMES: dict[str, str] = {
    "中医学/中药学": "中医中药",  # contains 药学
    "地球物理学": "地球物理",  # contains 物理学
}

TNEWS_WORDS: dict[str, str] = {
    # MP2's 15 TNews label words (index order of the reference code), keyed by the FewCLUE label_desc name
    "news_house": "房产", "news_car": "汽车", "news_finance": "金融", "news_sports": "体育", "news_culture": "文化",
    "news_entertainment": "娱乐", "news_edu": "教育", "news_tech": "科技", "news_military": "军事",
    "news_travel": "旅游", "news_world": "世界", "news_agriculture": "农业", "news_stock": "股票",
    "news_game": "游戏", "news_story": "故事",
}


def words_and_map(names: tuple[str, ...], renames: dict[str, str]) -> tuple[tuple[str, ...], dict[str, str]]:
    """Label words (names with ``renames`` applied) and the name -> word map."""
    mapping = {n: renames.get(n, n) for n in names}
    return tuple(mapping[n] for n in names), mapping
